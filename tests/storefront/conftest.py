import pytest

from bss.models import Product


@pytest.fixture
def add_to_cart(client):
    def add(sku: str = "MS-M365-E3", quantity: int = 3, store: str = "/store/", using=None):
        product = Product.objects.get(sku=sku)
        response = (using or client).post(store, {"product": product.pk, "quantity": quantity})
        assert response.status_code == 302, response.content
        return product

    return add


@pytest.fixture(autouse=True)
def partner_center_unreachable_fast(request, settings):
    """Without the simulator, Partner Center is a closed port: give up on it quickly (the form is shown, R3)."""
    if "pc_simulator" not in request.fixturenames:
        settings.MCA_STATUS_TIME_BUDGET = 0.2
        settings.PARTNER_CENTER_RETRY_BUDGET = 0.2
