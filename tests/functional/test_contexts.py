"""Route factories: an object is found within the caller's organisation or not at
all, permission comes before existence, and downloads check fixity."""
from __future__ import annotations

import pytest

from tests.support.invoices import synthetic_xml
from tests.support.journey import post_invoice

OTHER = {"name": "上海另一家有限公司", "tax_id": "91310000MA1FL0000X", "fonds_code": "Z002"}


@pytest.fixture
def invoice(service) -> dict:
    return post_invoice(service, synthetic_xml(), "dzfp.xml").json


def test_another_organisations_invoice_is_not_found(service, invoice):
    service.add_org(**OTHER)
    service.add_person("外单位审计", "auditor", OTHER["tax_id"])
    for path in (f"/api/v1/invoices/{invoice['id']}", f"/api/v1/invoices/{invoice['id']}/original"):
        r = service.app.get(path, headers=service.headers("外单位审计"), status=404)
        assert r.json["error"]["code"] == "invoice_not_found"


@pytest.mark.parametrize("ident", ["2147483648", "99999999999999999999", "0"])
def test_ids_no_row_can_have_are_not_found(service, ident):
    for path, code in ((f"/api/v1/invoices/{ident}", "invoice_not_found"),
                       (f"/api/v1/claims/{ident}", "claim_not_found"),
                       (f"/api/v1/vouchers/{ident}", "voucher_not_found"),
                       (f"/api/v1/archive/items/{ident}", "archive_item_not_found")):
        r = service.app.get(path, headers=service.headers("王审计"), expect_errors=True)
        assert r.status_int in (400, 404), (path, r.status)
        if r.status_int == 404:
            assert r.json["error"]["code"] == code


def test_permission_is_checked_before_existence(service, invoice):
    """Without a token, an existing and a missing id answer alike: nothing is learnt."""
    here = service.app.get(f"/api/v1/invoices/{invoice['id']}", expect_errors=True)
    missing = service.app.get("/api/v1/invoices/987654", expect_errors=True)
    assert here.status_int == missing.status_int in (401, 403)


def test_the_original_download_checks_fixity(service, invoice):
    stored = [p for p in service.stored_files() if "originals" in p.parts]
    assert len(stored) == 1
    stored[0].chmod(0o644)
    stored[0].write_bytes(stored[0].read_bytes() + b" ")
    r = service.app.get(f"/api/v1/invoices/{invoice['id']}/original", headers=service.headers("王审计"), status=503)
    assert r.json["error"]["code"] == "original_fixity_failed"
    stored[0].unlink()
    r = service.app.get(f"/api/v1/invoices/{invoice['id']}/original", headers=service.headers("王审计"), status=503)
    assert r.json["error"]["code"] == "original_missing"


def test_an_original_download_is_in_the_audit_trail(service, invoice):
    service.app.get(f"/api/v1/invoices/{invoice['id']}/original", headers=service.headers("王审计"))
    events = service.app.get(f"/api/v1/audit/events?object_type=invoice&object_id={invoice['id']}",
                             headers=service.headers("王审计")).json["items"]
    assert [e["action"] for e in events][-1] == "invoice.original_downloaded"
