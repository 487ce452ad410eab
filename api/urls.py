"""/api/v1/: every flow machine to machine (the schema is at /api/schema/, the docs at /api/docs/)."""

from django.urls import URLPattern, path, re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from api import views, webhooks

app_name = "api"


class ApiRoot(APIView):
    """The index of the API's endpoints: a map of path to absolute URL.

    Open to anonymous callers (it names URLs, no data) so an integrator can discover the API before logging in;
    each endpoint keeps its own permissions."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, exclude=True)
    def get(self, request: Request, format: str | None = None) -> Response:
        return Response(
            {
                str(pattern.pattern).strip("/"): reverse(f"api:{pattern.name}", request=request, format=format)
                for pattern in endpoints()
            }
        )


def endpoints() -> list[URLPattern]:
    """The named routes without URL arguments (a detail route cannot be listed without an object)."""
    return [
        p
        for p in urlpatterns
        if isinstance(p, URLPattern) and p.name not in ("root", "not-found") and not p.pattern.converters
    ]


urlpatterns = [
    path("", ApiRoot.as_view(), name="root"),
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("accounts/", views.AccountList.as_view(), name="account-list"),
    path("accounts/<int:pk>/", views.AccountDetail.as_view(), name="account-detail"),
    path("accounts/<int:pk>/mca/", views.AccountMcaView.as_view(), name="account-mca"),
    path("accounts/<int:pk>/mca/acceptances/", views.AcceptanceCreateView.as_view(), name="account-mca-acceptances"),
    path("accounts/<int:pk>/mca/resend-link/", views.ResendLinkView.as_view(), name="account-mca-resend-link"),
    path("accounts/<int:pk>/mca/cancel-link/", views.CancelLinkView.as_view(), name="account-mca-cancel-link"),
    path("mca/acceptances/", views.AcceptanceLogList.as_view(), name="acceptance-list"),
    path("mca/acceptances/<int:pk>/", views.AcceptanceLogDetail.as_view(), name="acceptance-detail"),
    path("products/", views.ProductList.as_view(), name="product-list"),
    path("orders/", views.OrderListCreate.as_view(), name="order-list"),
    path("orders/<int:pk>/", views.OrderDetail.as_view(), name="order-detail"),
    path("orders/<int:pk>/execute/", views.OrderExecute.as_view(), name="order-execute"),
    path("subscriptions/", views.SubscriptionList.as_view(), name="subscription-list"),
    path("subscriptions/<int:pk>/", views.SubscriptionDetail.as_view(), name="subscription-detail"),
    path("webhooks/subscriptions/", webhooks.SubscriptionListCreate.as_view(), name="webhook-subscription-list"),
    path("webhooks/subscriptions/<int:pk>/", webhooks.SubscriptionDetail.as_view(), name="webhook-subscription-detail"),
    path("webhooks/messages/", webhooks.MessageList.as_view(), name="webhook-message-list"),
    path("webhooks/messages/<int:pk>/", webhooks.MessageDetail.as_view(), name="webhook-message-detail"),
    path("webhooks/messages/<int:pk>/replay/", webhooks.MessageReplay.as_view(), name="webhook-message-replay"),
    # Anything else under /api/v1/ (an unknown path, an id that is not a number) is a problem, not an HTML page.
    re_path(r"^.*$", views.not_found, name="not-found"),
]
