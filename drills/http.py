"""HTTP to the stack under drill (127.0.0.1 only): the REST API with a token, and the simulator's control API."""

from __future__ import annotations

import uuid
from datetime import date

import requests

from demo.accounts import DEMO_PASSWORD

TIMEOUT = 60


class Api:
    def __init__(self, base_url: str, username: str) -> None:
        self.base_url = base_url
        response = requests.post(f"{base_url}/api/v1/auth/token/", auth=(username, DEMO_PASSWORD), timeout=TIMEOUT)
        response.raise_for_status()
        self.headers = {"Authorization": f"Token {response.json()['token']}"}

    def post(self, path: str, body: dict, idempotency_key: str | None = None) -> requests.Response:
        """POST `body` to /api/v1`path` with an Idempotency-Key (a new one unless given)."""
        headers = {**self.headers, "Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        return requests.post(f"{self.base_url}/api/v1{path}", json=body, headers=headers, timeout=TIMEOUT)

    def confirm(self, account_id: int, body: dict, idempotency_key: str | None = None) -> requests.Response:
        headers = {**self.headers, "Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        url = f"{self.base_url}/api/v1/accounts/{account_id}/mca/acceptances/"
        return requests.post(url, json=body, headers=headers, timeout=TIMEOUT)


def letters(n: int) -> str:
    """A number spelt in letters (names may hold letters only): 0 -> "a", 27 -> "bb"."""
    text = ""
    while True:
        n, rest = divmod(n, 26)
        text = "abcdefghijklmnopqrstuvwxyz"[rest] + text
        if n == 0:
            return text.capitalize()


def legacy_body(n: int, tag: str, *, form: bool = False) -> dict:
    """The legacy acceptance form's fields: as JSON for the API, or as a browser posts them (`form`)."""
    return {
        "first_name": "Drill",
        "last_name": f"Contact{letters(n)}",
        "email": f"drill.{tag}.{n}@drill.example",
        "phone": "+1 206 555 0100",
        "date_agreed": date.today().isoformat(),
        "accepted": "on" if form else True,
    }


def enhanced_body(n: int, tag: str) -> dict:
    return {
        "signatory_first_name": "Drill",
        "signatory_last_name": f"Signatory{letters(n)}",
        "signatory_email": f"sign.{tag}.{n}@drill.example",
        "company_name": f"Drill {tag} {n}",
        "authority_confirmed": True,
    }


class Simulator:
    def __init__(self, base_url: str) -> None:
        self.control = f"{base_url}/_control"

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        response = requests.request(method, f"{self.control}/{path}", json=body, timeout=TIMEOUT)
        if response.status_code >= 400:
            raise RuntimeError(f"simulator control {method} {path} -> {response.status_code}: {response.text}")
        return response.json() if response.content else {}

    def set_fault(self, **body) -> dict:
        return self._call("POST", "faults", body)["fault"]

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def calls(self) -> dict:
        return self._call("GET", "faults")["calls"]

    def confirm_calls(self) -> int:
        return int(self.calls().get("confirm_acceptance", 0))

    def reset_calls(self) -> None:
        self._call("DELETE", "calls")

    def set_direct_signed(self, tenant_id, signed: bool) -> dict:
        return self._call("POST", f"customers/{tenant_id}/direct-signed", {"isSigned": signed})

    def add_customer(self, tenant_id, company_name: str) -> dict:
        return self._call("POST", "customers", {"tenantId": str(tenant_id), "companyName": company_name})

    def attestations(self, email: str | None = None) -> list[dict]:
        query = f"?email={email}" if email else ""
        return self._call("GET", f"attestations{query}")["items"]

    def accept_attestation(self, attestation_id: str) -> dict:
        return self._call("POST", f"attestations/{attestation_id}/accept")
