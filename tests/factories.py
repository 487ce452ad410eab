"""factory_boy factories for the BSS domain (tests build what they need instead of loading fixture files)."""

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from bss.choices import BillingTerm, Channel, Operation, Role, Vendor
from bss.models import Account, Contact, Order, OrderLine, Product, Reseller, Subscription
from bss.roles import grant_role


class ResellerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reseller

    name = factory.Sequence(lambda n: f"Reseller {n}")
    slug = factory.Sequence(lambda n: f"reseller-{n}")


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Customer {n}")
    country = "US"
    language = "en-US"


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    account = factory.SubFactory(AccountFactory)
    first_name = "Pat"
    last_name = factory.Sequence(lambda n: f"Contact{n}")
    email = factory.LazyAttribute(lambda o: f"{o.last_name.lower()}@example.com")
    is_primary = True


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")
    sku = factory.Sequence(lambda n: f"SKU-{n}")
    vendor = Vendor.MICROSOFT
    partner_center_offer_id = factory.Sequence(lambda n: f"CFQ7TTC0{n:04d}:0001")
    billing_term = BillingTerm.MONTHLY
    price = Decimal("10.00")


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    account = factory.SubFactory(AccountFactory)
    product = factory.SubFactory(ProductFactory)
    seats = 5


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    number = factory.Sequence(lambda n: f"SO-{n:06d}")
    account = factory.SubFactory(AccountFactory)
    channel = Channel.STOREFRONT


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    product = factory.SubFactory(ProductFactory)
    operation = Operation.NEW_PURCHASE
    quantity = 1
    unit_price = Decimal("10.00")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @classmethod
    def with_role(cls, role: Role, *, account=None, reseller=None, **kwargs):
        user = cls(**kwargs)
        user.save()
        grant_role(user, role, account=account, reseller=reseller)
        return get_user_model().objects.get(pk=user.pk)
