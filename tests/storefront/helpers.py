import re
import uuid
from datetime import date


def legacy_form(**overrides) -> dict:
    data = {
        "action": "accept",
        "idempotency_key": str(uuid.uuid4()),
        "first_name": "Nancy",
        "last_name": "Davolio",
        "email": "nancy@northwind.example",
        "phone": "+1 206 555 0101",
        "date_agreed": date.today().isoformat(),
        "accepted": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def signatory_form(**overrides) -> dict:
    data = {
        "action": "accept",
        "idempotency_key": str(uuid.uuid4()),
        "signatory_first_name": "Nancy",
        "signatory_last_name": "Davolio",
        "signatory_email": "customer@demo.example",
        "signatory_phone": "",
        "company_name": "Northwind Traders",
        "authority_confirmed": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def hidden_key(html: str) -> str:
    return re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
