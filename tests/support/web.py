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


def archived_voucher(service: Any, number: str = "24992000000000000041", voucher_number: str = "0041"
                     ) -> dict[str, Any]:
    """One invoice through claim, posting and archiving (period 2024-07), over the API:
    the voucher as reported, with ``invoice`` (the invoice as received) and ``claim``."""
    from tests.support.invoices import synthetic_xml
    from tests.support.journey import (
        approve_claim, archive_period, create_claim, post_invoice, post_voucher, voucher_report,
    )

    inv = post_invoice(service, synthetic_xml(number), f"{number}.xml").json
    claim = approve_claim(service, create_claim(service, [inv["id"]]).json["id"])
    voucher = post_voucher(service, voucher_report(claim, number=voucher_number)).json
    archive_period(service)
    return {**voucher, "invoice": inv, "claim": claim}


def web_session_for(service: Any, who: str) -> str:
    """A signed-in session for ``who``'s token made directly in the database, as sign-in
    makes one, whatever the role (sign-in itself refuses roles without search:read):
    the cookie value."""
    from sqlalchemy import select

    from invoice_archive.db import session_factory
    from invoice_archive.models import ApiToken
    from invoice_archive.security import hash_token, start_web_session

    with session_factory(service.engine)() as db, db.begin():
        row = db.execute(select(ApiToken).where(ApiToken.token_hash == hash_token(service.tokens[who]))).scalar_one()
        return start_web_session(db, row)
