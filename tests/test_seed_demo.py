import io

import pytest
from django.apps import apps
from django.core import serializers
from django.core.management import call_command

from bss.choices import Role, Vendor
from bss.models import Account, Membership, Product, Reseller

pytestmark = pytest.mark.django_db


def snapshot() -> str:
    """Every row of every model, serialised: equal snapshots mean nothing changed."""
    models = [m for m in apps.get_models() if m._meta.app_label in {"bss", "auth", "pc_simulator", "mca"}]
    rows = []
    for model in models:
        rows.extend(model.objects.order_by("pk"))
    return serializers.serialize("json", rows)


def test_seed_demo_twice_changes_nothing_and_succeeds():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    first = snapshot()
    call_command("seed_demo", stdout=io.StringIO())
    assert snapshot() == first
    printed = out.getvalue()
    for username in ["admin", "bss", "reseller", "wl-bss", "customer", "wl-customer"]:
        assert username in printed
    assert "http://127.0.0.1:8000/admin/" in printed
    assert "'demo'" in printed


def test_seed_demo_pins_the_documented_data(demo, django_user_model):
    assert {"Microsoft 365 Business Standard", "Microsoft 365 E3", "Azure plan"} <= set(
        Product.objects.filter(vendor=Vendor.MICROSOFT).values_list("name", flat=True)
    )
    assert Product.objects.filter(vendor=Vendor.OTHER, name="Acronis Cyber Backup").exists()
    contoso, fabrikam = Reseller.objects.get(slug="contoso"), Reseller.objects.get(slug="fabrikam")
    assert (contoso.name, contoso.is_white_label) == ("Contoso Reseller", False)
    assert (fabrikam.name, fabrikam.is_white_label) == ("Fabrikam Cloud", True)
    assert fabrikam.brand_name and fabrikam.brand_colour

    northwind = Account.objects.get(name="Northwind Traders")
    assert northwind.reseller is None and not northwind.is_synced
    assert Account.objects.get(name="Adventure Works").is_synced
    assert Account.objects.get(name="Litware").is_synced
    assert not Account.objects.get(name="Wide World Importers").is_synced
    assert Account.objects.get(name="Tailspin Toys").reseller == fabrikam
    alpine = Account.objects.filter(name="Alpine Ski House")
    assert {a.reseller.slug for a in alpine} == {"contoso", "fabrikam"}
    assert len({a.partner_center_tenant_id for a in alpine}) == 1
    coho = Account.objects.get(name="Coho Winery")
    assert coho.cloud_agreement_accepted_at.year == 2019

    for username in ["admin", "bss", "reseller", "wl-bss", "customer", "wl-customer"]:
        assert django_user_model.objects.get(username=username).check_password("demo")
    assert django_user_model.objects.get(username="admin").is_superuser
    assert Membership.objects.get(user__username="wl-bss").role == Role.WHITE_LABEL_BSS
    assert Membership.objects.get(user__username="wl-customer").account.name == "Tailspin Toys"


def test_roles_carry_their_permissions(demo_user):
    assert demo_user("bss").has_perm("bss.execute_order")
    assert demo_user("wl-bss").has_perm("bss.execute_order")
    assert demo_user("reseller").has_perm("bss.confirm_mca_acceptance")
    assert not demo_user("reseller").has_perm("bss.execute_order")
    assert not demo_user("customer").has_perm("bss.execute_order")
    assert demo_user("bss").is_staff and not demo_user("customer").is_staff


def test_seed_demo_has_placed_orders_for_bss_execution(demo):
    from bss.choices import OrderStatus
    from bss.models import Order

    litware = Order.objects.get(number="SO-DEMO-LITWARE")
    tailspin = Order.objects.get(number="SO-DEMO-TAILSPIN")
    assert (litware.account.name, litware.status) == ("Litware", OrderStatus.PLACED)
    assert (tailspin.account.reseller.slug, tailspin.status) == ("fabrikam", OrderStatus.PLACED)
    assert litware.lines.get().product.is_microsoft and tailspin.lines.get().product.is_microsoft
    # The README's BSS walk-through: a placed order of Wide World Importers (not synced, German) to execute.
    wide_world = Order.objects.get(number="SO-DEMO-WIDEWORLD")
    assert (wide_world.account.name, wide_world.status) == ("Wide World Importers", OrderStatus.PLACED)
    assert wide_world.lines.get().product.is_microsoft


def test_seeding_again_keeps_an_executed_demo_order_as_it_is(demo):
    from bss.choices import OrderStatus
    from bss.models import Order
    from demo.accounts import seed_demo_data

    order = Order.objects.get(number="SO-DEMO-LITWARE")
    order.move_to(OrderStatus.CANCELLED)
    seed_demo_data()
    assert Order.objects.get(number="SO-DEMO-LITWARE").status == OrderStatus.CANCELLED
    assert Order.objects.filter(number__startswith="SO-DEMO").count() == 3


def test_seed_links_puts_a_pending_and_an_expired_link_out_once(pc_simulator, demo):
    """With Microsoft (the simulator) answering, the demo has a link waiting for Alpine Ski House's signatory (seen
    from both resellers' accounts of the tenant) and one that expired for Coho Winery; a second seed adds nothing."""
    from demo.history import seed_links
    from mca import gate
    from mca.choices import AttestationState
    from mca.models import AcceptanceRecord, Attestation

    first = seed_links(demo)
    assert [(a.account.name, a.state) for a in first] == [
        ("Alpine Ski House", AttestationState.PENDING),
        ("Coho Winery", AttestationState.EXPIRED),
    ]
    records = AcceptanceRecord.objects.count()
    assert [a.pk for a in seed_links(demo)] == [a.pk for a in first]
    assert AcceptanceRecord.objects.count() == records and Attestation.objects.count() == 2

    for key in ("alpine-contoso", "alpine-fabrikam"):
        decision = gate.check(demo[key], ["new_purchase"])
        assert decision.pending is not None and decision.pending.signatory_email == "anna@alpineskihouse.example"
    coho = gate.check(demo["coho"], ["new_purchase"])
    assert coho.needed and coho.pending is not None and coho.pending.expired
