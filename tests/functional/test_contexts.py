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


def _minimal(schema: dict, schemas: dict):
    """The smallest body a JSON schema accepts: its required properties, each at its simplest."""
    if "$ref" in schema:
        return _minimal(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        return {k: _minimal(schema["properties"][k], schemas) for k in schema.get("required", [])}
    if kind == "array":
        return [_minimal(schema["items"], schemas) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return schema.get("minimum", 0)
    return "了结" if schema.get("format") != "date" else "2025-12-31"


def _id_operations():
    """Every operation of the published API that takes an integer id in its path, with the
    smallest body it accepts, so that the request gets past validation to the lookup."""
    import yaml

    from invoice_archive.views import SPEC

    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    shared, schemas = spec["components"]["parameters"], spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post"):
                continue
            params = [shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p
                      for p in item.get("parameters", []) + op.get("parameters", [])]
            ints = [p["name"] for p in params if p["in"] == "path" and p["schema"].get("type") == "integer"]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if ints:
                yield method, path, ints, (_minimal(body, schemas) if body else None)


@pytest.mark.parametrize("ident", ["2147483648", "4838382517456824320", "99999999999999999999"])
def test_no_id_beyond_the_columns_reaches_the_database(service, ident):
    """Whatever the role, an id no row can have is a refusal (400 or 404), never a 500:
    on PostgreSQL a bind beyond INTEGER would otherwise fail inside the query."""
    ops = list(_id_operations())
    assert len(ops) > 20
    for method, path, names, body in ops:
        url = "/api/v1" + path
        for name in names:
            url = url.replace("{%s}" % name, ident)
        for who in service.tokens:
            if method == "get":
                r = service.app.get(url, headers=service.headers(who), expect_errors=True)
            elif body is None:
                r = service.app.post(url, headers=service.headers(who), expect_errors=True)
            else:
                r = service.app.post_json(url, body, headers=service.headers(who), expect_errors=True)
            assert r.status_int < 500, (method, url, who, r.status, r.body[:300])
