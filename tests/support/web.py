"""The auditors' web pages through WebTest: signing in as a person would, with the form."""
from __future__ import annotations

from typing import Any


def sign_in(service: Any, who: str = "王审计") -> Any:
    """Fill in and send the sign-in form (with its CSRF token); the session cookie stays
    in ``service.app``'s cookie jar. Returns the form's answer (303 when signed in)."""
    page = service.app.get("/audit/")
    form = page.forms[0]
    form["token"] = service.tokens[who]
    return form.submit()
