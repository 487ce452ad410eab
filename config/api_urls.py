"""The REST API's routes, mounted at /api/v1/. Add an endpoint here with a name and it is listed at /api/v1/."""

from django.urls import URLPattern, path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from bss import api


class ApiRoot(APIView):
    """The index of the API's endpoints, like DRF's browsable root: a map of name to absolute URL.

    Open to anonymous callers (it names URLs, no data) so an integrator can discover the API before logging in;
    each endpoint keeps its own permissions."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, format: str | None = None) -> Response:
        return Response(
            {
                str(pattern.pattern).strip("/"): reverse(pattern.name, request=request, format=format)
                for pattern in endpoints()
            }
        )


def endpoints() -> list[URLPattern]:
    """The named routes without URL arguments (a detail route cannot be listed without an object)."""
    return [p for p in urlpatterns if p.name and p.name != "api-root" and not p.pattern.converters]


urlpatterns = [
    path("", ApiRoot.as_view(), name="api-root"),
    path("accounts/", api.AccountList.as_view(), name="api-account-list"),
]
