"""The REST API: thin views over the gate (`mca.gate`) and the BSS services. Every object is found through
`Account.objects.visible_to(user)`, so another tenant's id is a 404 and nothing is written."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django_otp import match_token
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import LockoutAwareBasicAuthentication
from api.errors import (
    PROBLEM_CONTENT_TYPE,
    AcceptanceRequiredError,
    Conflict,
    MfaRequired,
    ProblemCode,
    django_errors,
)
from api.idempotency import HEADER, idempotent, service_key
from api.pagination import cursor
from api.schema import problems
from api.serializers import (
    AcceptanceOutcomeSerializer,
    AcceptanceRecordSerializer,
    AccountMcaSerializer,
    AccountMcaStateSerializer,
    AccountSerializer,
    ExecuteInputSerializer,
    LogFilterSerializer,
    OrderInputSerializer,
    OrderResultSerializer,
    OrderSerializer,
    ProductSerializer,
    SeatsInputSerializer,
    SubscriptionSerializer,
    TokenSerializer,
    form_serializer,
)
from bss.choices import Channel, Operation
from bss.models import Account, Order, Product, Subscription
from bss.services import acceptance, execution, subscriptions
from bss.services.acceptance import OperationResult
from bss.services.orders import LineRequest, place_order
from config.mfa import OTP_HEADER, is_verified, mfa_required_for
from mca import gate, selectors
from mca.models import AcceptanceRecord

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Optional. The first answer for a key is replayed for the same body (24 h); another body is a 422.",
)


@csrf_exempt  # it changes nothing; a CSRF page would answer in HTML
def not_found(request: Any, *args: Any, **kwargs: Any) -> JsonResponse:
    body = {
        "type": f"urn:mca:problem:{ProblemCode.NOT_FOUND}",
        "title": "Not found",
        "status": 404,
        "detail": "No such endpoint or object.",
        "code": ProblemCode.NOT_FOUND,
    }
    return JsonResponse(body, status=404, content_type=PROBLEM_CONTENT_TYPE)


# --- shared helpers --------------------------------------------------------------------------------------------


def visible_account(request: Request, pk: Any) -> Account:
    return get_object_or_404(Account.objects.visible_to(request.user).select_related("reseller"), pk=pk)


def _url(request: Request, name: str, account: Account) -> str:
    return request.build_absolute_uri(reverse(name, kwargs={"pk": account.pk}))


def acceptance_required(
    request: Request, account: Account, refused: gate.AcceptanceRequired
) -> AcceptanceRequiredError:
    """The 409 for a refused operation, with the outcome of an acceptance submitted with it (when it went in)."""
    decision = refused.decision
    resend = ""
    if decision.pending is not None and decision.pending.expired:
        resend = _url(request, "api:account-mca-resend-link", account)
    error = AcceptanceRequiredError(
        decision, acceptance_url=_url(request, "api:account-mca-acceptances", account), resend_link_url=resend
    )
    if refused.outcome is not None:
        error.outcome = outcome_data(refused.outcome)
    return error


def acceptance_input(request: Request, account: Account, raw: Any, *, prefix: str = "") -> dict[str, Any]:
    """The acceptance form's data from JSON: types checked (a 400 naming the field), the fields the form prefills
    (company name, today's date) taken from it when left out. The rules are the form's, in the gate."""
    form = gate.form_for(request.user, account)
    serializer = form_serializer(form)(data=raw)
    if not serializer.is_valid():
        detail = serializer.errors
        raise exceptions.ValidationError({prefix: detail} if prefix else detail)
    data = {name: value for name, value in raw.items() if value is not None}
    for name, field in form.fields.items():
        if name not in data:
            initial = form.get_initial_for_field(field, name)
            if initial not in (None, ""):
                data[name] = initial.isoformat() if hasattr(initial, "isoformat") else initial
    return data


def api_context(request: Request, **trigger: Any) -> gate.ConfirmationContext:
    """Where a confirmation through the API happens (R8), with the request's idempotency key for the form."""
    context = gate.ConfirmationContext.from_request(request, Channel.API, **trigger)
    return context.with_trigger(idempotency_key=service_key(request))


def invalid_acceptance(exc: gate.AcceptanceInvalid, prefix: str = "") -> exceptions.ValidationError:
    return exceptions.ValidationError(django_errors(exc, prefix))


def outcome_data(outcome: gate.Outcome, request: Request | None = None) -> dict[str, Any]:
    """The outcome as answered: Microsoft's link only to the signatory themselves (the others get it by e-mail,
    and a masked address here)."""
    attestation = outcome.attestation
    viewer = request.user if request is not None else None
    own = attestation is not None and gate.is_signatory(viewer, attestation.signatory_email)
    return AcceptanceOutcomeSerializer(
        {
            "kind": outcome.kind.value,
            "accepted": outcome.accepted,
            "record": outcome.record,
            "attestation": None
            if attestation is None
            else {
                "state": attestation.state,
                "signatory_name": attestation.signatory_name,
                "signatory_email": attestation.signatory_email if own else gate.mask_email(attestation.signatory_email),
                "link": (outcome.link or None) if own else None,
                "expires_at": outcome.expires_at,
            },
        }
    ).data


def outcome_status(outcome: gate.Outcome) -> int:
    return status.HTTP_201_CREATED if outcome.accepted else status.HTTP_202_ACCEPTED


# --- auth --------------------------------------------------------------------------------------------------------


class TokenView(APIView):
    """Your API token: create (or get) it with your password (basic auth) or a session; revoke it with DELETE."""

    authentication_classes = [LockoutAwareBasicAuthentication, SessionAuthentication]

    @extend_schema(
        operation_id="auth_token_create",
        request=None,
        parameters=[
            OpenApiParameter(
                OTP_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="The code of your authenticator app, when your account needs a second factor "
                "(admins, staff, resellers: 403 `mfa_required` without it).",
            )
        ],
        responses={200: TokenSerializer, 201: TokenSerializer, **problems(403)},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        user = request.user
        if mfa_required_for(user) and not is_verified(user):
            # Basic auth proves the password only; a session has been through /accounts/mfa/ (config/mfa.py).
            code = request.headers.get(OTP_HEADER, "")
            if not code or match_token(user, code) is None:
                raise MfaRequired()
        token, created = Token.objects.get_or_create(user=request.user)
        return Response(
            TokenSerializer({"token": token.key, "created": token.created}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        operation_id="auth_token_destroy", request=None, responses={204: None, **problems(403)}, tags=["auth"]
    )
    def delete(self, request: Request) -> Response:
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- accounts and acceptance -------------------------------------------------------------------------------------


@extend_schema(tags=["accounts"], responses={200: AccountSerializer(many=True), **problems(400)})
class AccountList(generics.ListAPIView):
    """The customer accounts you may act for."""

    serializer_class = AccountSerializer
    pagination_class = cursor("id")

    def get_queryset(self) -> QuerySet[Account]:
        return Account.objects.visible_to(self.request.user).select_related("reseller")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        states = gate.states_for(page, viewer=request.user)  # two queries per page, no Partner Center call
        serializer = self.get_serializer(
            page, many=True, context={**self.get_serializer_context(), "mca_states": states}
        )
        return self.get_paginated_response(serializer.data)


@extend_schema(tags=["accounts"], responses={200: AccountSerializer, **problems(404)})
class AccountDetail(generics.RetrieveAPIView):
    serializer_class = AccountSerializer

    def get_queryset(self) -> QuerySet[Account]:
        return Account.objects.visible_to(self.request.user).select_related("reseller")

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        account = self.get_object()
        states = gate.states_for([account], viewer=request.user)
        return Response(
            self.get_serializer(account, context={**self.get_serializer_context(), "mca_states": states}).data
        )


def _form_description(form: Any) -> list[dict[str, Any]]:
    from django import forms

    fields = []
    for name, field in form.fields.items():
        if isinstance(field.widget, forms.CheckboxInput):
            kind = "boolean"
        elif isinstance(field, forms.DateField):
            kind = "date"
        elif isinstance(field, forms.EmailField):
            kind = "email"
        else:
            kind = "string"
        initial = form.get_initial_for_field(field, name)
        fields.append(
            {
                "name": name,
                "label": str(field.label or name),
                "type": kind,
                "required": field.required,
                "initial": None if initial in (None, "") else str(initial),
            }
        )
    return fields


class AccountMcaView(APIView):
    """Whether the customer's MCA acceptance is needed for a new Microsoft purchase, why, the agreement template
    and document, any acceptance link out with the signatory (and when it expires), and the form to submit."""

    @extend_schema(tags=["mca"], responses={200: AccountMcaSerializer, **problems(404)})
    def get(self, request: Request, pk: int) -> Response:
        account = visible_account(request, pk)
        decision = gate.check(account, [Operation.NEW_PURCHASE])
        body = decision.as_dict(viewer=request.user)
        download = decision.document_download_path
        expired = decision.pending is not None and decision.pending.expired
        body.update(
            document_download_url=request.build_absolute_uri(download) if download else None,
            may_confirm=gate.may_confirm(request.user, account),
            acceptance_url=_url(request, "api:account-mca-acceptances", account),
            resend_link_url=_url(request, "api:account-mca-resend-link", account) if expired else None,
            form=_form_description(gate.form_for(request.user, account)),
            mca_state=gate.state_from_decision(decision, viewer=request.user).as_dict(),
        )
        return Response(AccountMcaSerializer(body).data)


class AcceptanceCreateView(generics.GenericAPIView):
    """Submit the MCA acceptance form for a customer (the fields of GET /accounts/{id}/mca/ `form`).

    Legacy flow: 201 with the log record (the acceptance counts now). Enhanced flow: 202 with the pending
    attestation: Microsoft's link for the signatory and its expiry (the acceptance counts once the signatory
    accepted on Microsoft's page).
    """

    def get_serializer_class(self) -> Any:
        from django.contrib.auth.models import AnonymousUser

        if getattr(self, "swagger_fake_view", False):
            # The schema documents the configured flow's form for a named customer: the fields the server fills in
            # from the account (the company name) are optional there, as they are in a real request.
            return form_serializer(gate.form_for(AnonymousUser(), Account(name="Contoso")))
        return form_serializer(gate.form_for(self.request.user, visible_account(self.request, self.kwargs["pk"])))

    @extend_schema(
        tags=["mca"],
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: OpenApiResponse(AcceptanceOutcomeSerializer, description="Legacy flow: accepted and recorded."),
            202: OpenApiResponse(AcceptanceOutcomeSerializer, description="Enhanced flow: the signatory's link."),
            **problems(400, 403, 404, 409, 422),
        },
        examples=[
            OpenApiExample(
                "enhanced flow",
                request_only=True,
                value={
                    "signatory_first_name": "Jane",
                    "signatory_last_name": "Smith",
                    "signatory_email": "jane.smith@contoso.example",
                    "company_name": "Contoso",
                    "authority_confirmed": True,
                },
            ),
            OpenApiExample(
                "legacy flow",
                request_only=True,
                value={
                    "first_name": "Jane",
                    "last_name": "Smith",
                    "email": "jane.smith@contoso.example",
                    "phone": "+1 206 555 0100",
                    "date_agreed": "2026-11-20",
                    "accepted": True,
                },
            ),
        ],
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        account = visible_account(request, pk)
        data = acceptance_input(request, account, request.data)
        try:
            outcome, _ = acceptance.confirm_acceptance(
                actor=request.user, account=account, data=data, context=api_context(request)
            )
        except gate.AcceptanceInvalid as exc:
            raise invalid_acceptance(exc) from None
        return Response(outcome_data(outcome, request), status=outcome_status(outcome))


class ResendLinkView(APIView):
    """Enhanced flow: a new acceptance link for the signatory (the old one expired or was lost)."""

    @extend_schema(
        tags=["mca"],
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={202: AcceptanceOutcomeSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        account = visible_account(request, pk)
        context = gate.ConfirmationContext.from_request(request, Channel.API)
        try:
            outcome, _ = acceptance.resend_link(actor=request.user, account=account, context=context)
        except gate.AcceptanceInvalid as exc:
            raise invalid_acceptance(exc) from None
        return Response(outcome_data(outcome, request), status=status.HTTP_202_ACCEPTED)


class CancelLinkView(APIView):
    """Enhanced flow: cancel the acceptance link out with the signatory (mistyped, or the wrong person). It is
    recorded in the log and withdrawn at Microsoft; the customer is asked again. To name another signatory
    instead, POST the form to acceptances/: the new link supersedes the old one the same way."""

    @extend_schema(
        tags=["mca"],
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: AccountMcaStateSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        account = visible_account(request, pk)
        context = gate.ConfirmationContext.from_request(request, Channel.API)
        try:
            gate.cancel_link(actor=request.user, account=account, context=context)
        except gate.AcceptanceInvalid as exc:
            raise invalid_acceptance(exc) from None
        state = gate.state_for(account, viewer=request.user)
        return Response(AccountMcaStateSerializer({"mca_state": state.as_dict()}).data)


# --- the acceptance log ------------------------------------------------------------------------------------------


@extend_schema(
    tags=["mca"],
    parameters=[
        OpenApiParameter("account", OpenApiTypes.INT, description="Only this customer's records."),
        OpenApiParameter("channel", OpenApiTypes.STR, enum=Channel.values),
        OpenApiParameter("created_after", OpenApiTypes.DATETIME, description="Inclusive, ISO 8601."),
        OpenApiParameter("created_before", OpenApiTypes.DATETIME, description="Exclusive, ISO 8601."),
    ],
    responses={200: AcceptanceRecordSerializer(many=True), **problems(400)},
)
class AcceptanceLogList(generics.ListAPIView):
    """The acceptance log records you may see (R12), newest first, with their Partner Center delivery state."""

    serializer_class = AcceptanceRecordSerializer
    pagination_class = cursor("-sequence")

    def get_queryset(self) -> QuerySet[AcceptanceRecord]:
        filters = LogFilterSerializer(data=self.request.query_params.dict())
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        records = selectors.records_visible_to(self.request.user)
        if "account" in wanted:
            records = records.filter(account_id=wanted["account"])
        if "channel" in wanted:
            records = records.filter(channel=wanted["channel"])
        if "created_after" in wanted:
            records = records.filter(created_at__gte=wanted["created_after"])
        if "created_before" in wanted:
            records = records.filter(created_at__lt=wanted["created_before"])
        return records


@extend_schema(tags=["mca"], responses={200: AcceptanceRecordSerializer, **problems(404)})
class AcceptanceLogDetail(generics.RetrieveAPIView):
    serializer_class = AcceptanceRecordSerializer

    def get_queryset(self) -> QuerySet[AcceptanceRecord]:
        return selectors.records_visible_to(self.request.user)


# --- catalog, orders, subscriptions ----------------------------------------------------------------------------


@extend_schema(tags=["catalog"], responses={200: ProductSerializer(many=True), **problems(400)})
class ProductList(generics.ListAPIView):
    """The products for sale."""

    serializer_class = ProductSerializer
    queryset = Product.objects.filter(is_active=True)
    pagination_class = cursor("id")


def visible_orders(request: Request) -> QuerySet[Order]:
    return (
        Order.objects.filter(account__in=Account.objects.visible_to(request.user))
        .select_related("account")
        .prefetch_related("lines")
    )


def _lines(account: Account, lines: list[dict[str, Any]]) -> list[LineRequest]:
    products = Product.objects.in_bulk([line["product"] for line in lines])
    subscriptions = Subscription.objects.filter(account=account).in_bulk(
        [line["subscription"] for line in lines if line.get("subscription")]
    )
    errors: dict[str, list[str]] = {}
    result = []
    for index, line in enumerate(lines):
        product = products.get(line["product"])
        subscription = subscriptions.get(line.get("subscription")) if line.get("subscription") else None
        if product is None:
            errors[f"lines[{index}].product"] = ["No such product."]
        if line.get("subscription") and subscription is None:
            errors[f"lines[{index}].subscription"] = ["Not one of this customer's subscriptions."]
        if product is not None:
            result.append(LineRequest(product, line["quantity"], line["operation"], subscription))
    if errors:
        raise exceptions.ValidationError(errors)
    return result


class OrderListCreate(generics.ListAPIView):
    """Orders for the customers you may act for. Placing a Microsoft order that needs the customer's MCA
    acceptance answers 409 `mca_acceptance_required` (with the reason and where to post the acceptance), unless
    the acceptance comes inline in `mca_acceptance`: it is submitted first, then the order is placed ("placed" in
    the legacy flow; "awaiting_acceptance" in the enhanced flow until the signatory accepts at Microsoft)."""

    serializer_class = OrderSerializer
    pagination_class = cursor("-id")

    def get_queryset(self) -> QuerySet[Order]:
        return visible_orders(self.request)

    @extend_schema(tags=["orders"], responses={200: OrderSerializer(many=True), **problems(400)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["orders"],
        request=OrderInputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: OrderResultSerializer, **problems(400, 403, 404, 409, 422, mca=True)},
        examples=[
            OpenApiExample(
                "with the acceptance inline",
                request_only=True,
                value={
                    "account": 1,
                    "lines": [{"product": 1, "quantity": 5, "operation": "new_purchase"}],
                    "mca_acceptance": {
                        "signatory_first_name": "Jane",
                        "signatory_last_name": "Smith",
                        "signatory_email": "jane.smith@contoso.example",
                        "authority_confirmed": True,
                    },
                },
            )
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        payload = OrderInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        account = visible_account(request, data["account"])
        lines = _lines(account, data["lines"])
        inline = data.get("mca_acceptance")
        form_data = acceptance_input(request, account, inline, prefix="mca_acceptance") if inline else None
        try:
            result = place_order(
                actor=request.user,
                account=account,
                lines=lines,
                context=api_context(request),
                acceptance=form_data,
                idempotency_key=service_key(request),
            )
        except gate.AcceptanceRequired as refused:
            raise acceptance_required(request, account, refused) from None
        except gate.AcceptanceInvalid as exc:
            raise invalid_acceptance(exc, "mca_acceptance") from None
        return Response(result_body(result), status=status.HTTP_201_CREATED)


def result_body(result: OperationResult) -> dict[str, Any]:
    """An operation's order, with the outcome of the acceptance submitted with it (None when none was)."""
    order = result.order
    order.refresh_from_db()
    body = OrderResultSerializer(order).data
    body["mca_acceptance"] = outcome_data(result.outcome) if result.outcome else None
    return body


@extend_schema(tags=["orders"], responses={200: OrderSerializer, **problems(404)})
class OrderDetail(generics.RetrieveAPIView):
    serializer_class = OrderSerializer

    def get_queryset(self) -> QuerySet[Order]:
        return visible_orders(self.request)


class OrderExecute(APIView):
    """Execute a placed order (BSS users with `bss.execute_order`). When the customer's acceptance is needed:
    409 `mca_acceptance_required`, or send it inline in `mca_acceptance`: legacy flow, the order is executed (200);
    enhanced flow, the order is held "awaiting_acceptance" (202) until the signatory accepts at Microsoft."""

    @extend_schema(
        tags=["orders"],
        request=ExecuteInputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            200: OrderResultSerializer,
            202: OpenApiResponse(OrderResultSerializer, description="Held: waiting for the signatory."),
            **problems(400, 403, 404, 409, 422, mca=True),
        },
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        order = get_object_or_404(visible_orders(request), pk=pk)
        payload = ExecuteInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        inline = payload.validated_data.get("mca_acceptance")
        account = order.account
        form_data = acceptance_input(request, account, inline, prefix="mca_acceptance") if inline else None
        try:
            result = execution.execute_order(
                actor=request.user, order=order, acceptance=form_data, context=api_context(request)
            )
        except execution.OrderNotExecutable as exc:
            raise Conflict(str(exc)) from None
        except gate.AcceptanceRequired as refused:
            raise acceptance_required(request, account, refused) from None
        except gate.AcceptanceInvalid as exc:
            raise invalid_acceptance(exc, "mca_acceptance") from None
        return Response(result_body(result), status=status.HTTP_202_ACCEPTED if result.held else status.HTTP_200_OK)


def visible_subscriptions(request: Request) -> QuerySet[Subscription]:
    return Subscription.objects.filter(account__in=Account.objects.visible_to(request.user)).select_related(
        "account", "product"
    )


@extend_schema(tags=["subscriptions"], responses={200: SubscriptionSerializer(many=True), **problems(400)})
class SubscriptionList(generics.ListAPIView):
    serializer_class = SubscriptionSerializer
    pagination_class = cursor("id")

    def get_queryset(self) -> QuerySet[Subscription]:
        return visible_subscriptions(self.request)


class SubscriptionDetail(generics.GenericAPIView):
    """A subscription; PATCH `seats` changes its seat count (BSS users with `bss.execute_order`): 202 with the
    change's order. A seat increase or decrease of a Microsoft product needs the customer's MCA acceptance: 409
    `mca_acceptance_required`, or send it inline in `mca_acceptance`: legacy flow, the order is executed (202,
    provisioning applies the change); enhanced flow, the order is held "awaiting_acceptance" (202, the link
    e-mailed to the signatory and in `mca_acceptance`) until the signatory accepts at Microsoft."""

    serializer_class = SubscriptionSerializer
    http_method_names = ["get", "patch", "options"]

    def get_queryset(self) -> QuerySet[Subscription]:
        return visible_subscriptions(self.request)

    @extend_schema(tags=["subscriptions"], responses={200: SubscriptionSerializer, **problems(404)})
    def get(self, request: Request, pk: int) -> Response:
        return Response(SubscriptionSerializer(self.get_object()).data)

    @extend_schema(
        tags=["subscriptions"],
        request=SeatsInputSerializer,
        responses={
            202: OpenApiResponse(
                OrderResultSerializer,
                description="The seat change's order: executed (provisioning applies it) or held for the signatory.",
            ),
            **problems(400, 403, 404, 409, 422, mca=True),
        },
    )
    def patch(self, request: Request, pk: int) -> Response:
        subscription = self.get_object()
        payload = SeatsInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        inline = payload.validated_data.get("mca_acceptance")
        account = subscription.account
        form_data = acceptance_input(request, account, inline, prefix="mca_acceptance") if inline else None
        try:
            result = subscriptions.change_seats(
                actor=request.user,
                subscription=subscription,
                seats=payload.validated_data["seats"],
                acceptance=form_data,
                context=api_context(request),
            )
        except gate.AcceptanceRequired as refused:
            raise acceptance_required(request, account, refused) from None
        except gate.AcceptanceInvalid as exc:
            raise invalid_acceptance(exc, "mca_acceptance") from None
        # The change is an order of its own: executed now and applied by provisioning (at Partner Center for a
        # Microsoft product), or held "awaiting_acceptance" while the signatory's link is out.
        return Response(result_body(result), status=status.HTTP_202_ACCEPTED)
