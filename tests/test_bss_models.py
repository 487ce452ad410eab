import pytest
from django.db import IntegrityError, transaction

from bss.choices import OrderStatus, Role, Vendor
from bss.models import IllegalTransition, Membership, Order, OrderStatusChange, Product
from tests.factories import AccountFactory, OrderFactory, ResellerFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_order_walks_the_happy_path_and_records_each_change():
    order = OrderFactory(status=OrderStatus.DRAFT)
    path = [
        OrderStatus.PLACED,
        OrderStatus.AWAITING_ACCEPTANCE,
        OrderStatus.EXECUTED,
        OrderStatus.PROVISIONING,
        OrderStatus.PROVISIONED,
    ]
    for status in path:
        order.move_to(status)
    order.refresh_from_db()
    assert order.status == OrderStatus.PROVISIONED
    changes = list(OrderStatusChange.objects.filter(order=order).values_list("from_status", "to_status"))
    assert changes == list(zip([OrderStatus.DRAFT, *path[:-1]], path, strict=True))


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (OrderStatus.DRAFT, OrderStatus.EXECUTED),
        (OrderStatus.PLACED, OrderStatus.PROVISIONED),
        (OrderStatus.PROVISIONED, OrderStatus.PROVISIONING),
        (OrderStatus.CANCELLED, OrderStatus.PLACED),
        (OrderStatus.EXECUTED, OrderStatus.CANCELLED),
    ],
)
def test_illegal_transition_is_refused_and_writes_nothing(start, target):
    order = OrderFactory(status=start)
    with pytest.raises(IllegalTransition):
        order.move_to(target)
    order.refresh_from_db()
    assert order.status == start
    assert not OrderStatusChange.objects.filter(order=order).exists()


def test_failed_provisioning_can_be_retried():
    order = OrderFactory(status=OrderStatus.FAILED)
    order.move_to(OrderStatus.PROVISIONING)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PROVISIONING


def test_membership_role_must_match_its_organisation():
    user = UserFactory()
    user.save()
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=user, role=Role.CUSTOMER, reseller=ResellerFactory())


def test_microsoft_product_needs_an_offer_id():
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.create(name="M365", sku="X", vendor=Vendor.MICROSOFT, price=1)


def test_reseller_brand_colour_must_be_hex():
    with pytest.raises(IntegrityError), transaction.atomic():
        ResellerFactory(brand_colour="blue")


def test_white_label_bss_user_needs_a_white_label_reseller():
    from django.core.exceptions import ValidationError

    user = UserFactory()
    user.save()
    with pytest.raises(ValidationError):
        UserFactory.with_role(Role.WHITE_LABEL_BSS, reseller=ResellerFactory(is_white_label=False))


def test_account_is_synced_once_it_has_a_tenant():
    import uuid

    account = AccountFactory()
    assert not account.is_synced
    account.partner_center_tenant_id = uuid.uuid4()
    assert account.is_synced
