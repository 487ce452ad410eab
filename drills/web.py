"""A signed-in browser for the drills: Django's session cookie and CSRF token over plain HTTP (127.0.0.1 only),
redirects not followed so every answer's own status is seen."""

from __future__ import annotations

import re
from typing import Any

import requests

from demo.accounts import DEMO_PASSWORD
from drills.http import TIMEOUT

FormData = dict[str, Any] | list[tuple[str, Any]] | bytes


class Browser:
    def __init__(self, base_url: str, username: str, *, session_key: str | None = None) -> None:
        """Signs in with the demo password, or (`session_key`) starts from a session made for the user already."""
        self.base_url = base_url
        self.username = username
        self.session = requests.Session()
        if session_key is not None:
            self.session.cookies.set("sessionid", session_key, domain="127.0.0.1", path="/")
            return
        self.get("/accounts/login/").raise_for_status()
        signed_in = self.post("/accounts/login/", {"username": username, "password": DEMO_PASSWORD})
        if signed_in.status_code != 302 or "sessionid" not in self.session.cookies:
            raise RuntimeError(f"{username} could not sign in: HTTP {signed_in.status_code}")

    @classmethod
    def signed_in_as(cls, base_url: str, user) -> Browser:
        """A browser already signed in as `user`: its session written straight into the database, as a sign-in
        would (the drills that need a hundred customers skip a hundred password hashes on 2 CPUs)."""
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.sessions.backends.db import SessionStore

        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        return cls(base_url, user.get_username(), session_key=store.session_key)

    def csrf_token(self) -> str:
        return self.session.cookies.get("csrftoken", "")

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.base_url + path, allow_redirects=False, timeout=TIMEOUT, **kwargs)

    def post(
        self, path: str, data: FormData, *, csrf: bool = True, headers: dict[str, str] | None = None
    ) -> requests.Response:
        """A form POST with the CSRF token the page would carry (`csrf=False`: without it)."""
        if csrf and not isinstance(data, bytes):
            items = list(data.items()) if isinstance(data, dict) else list(data)
            data = [*items, ("csrfmiddlewaretoken", self.csrf_token())]
        return self.session.post(
            self.base_url + path, data=data, headers=headers, allow_redirects=False, timeout=TIMEOUT
        )

    def post_json(self, path: str, body: Any, *, csrf: bool = True) -> requests.Response:
        """The REST API with this browser's session (it needs the CSRF header, as a page's script would send)."""
        headers = {"X-CSRFToken": self.csrf_token()} if csrf else {}
        return self.session.post(
            self.base_url + path, json=body, headers=headers, allow_redirects=False, timeout=TIMEOUT
        )

    def form_on(self, path: str, field: str) -> bool:
        """Whether the page at `path` answers 200 with an input named `field` (the form the drill posts to)."""
        page = self.get(path)
        return page.status_code == 200 and re.search(rf'name="{re.escape(field)}"', page.text) is not None
