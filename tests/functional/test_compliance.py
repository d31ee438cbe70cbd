"""Compliance before money moves, against the fake tax platform on loopback:
查验 answers, its daily budget, red invoices, business rules, and the posting
status (入账标识) sent through the outbox without loss or doubling."""
from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from invoice_archive_adapters.testing.fakes.taxplatform import FakeTaxPlatform
from invoice_archive.db import session_factory
from invoice_archive.formats import read_invoice
from invoice_archive.outbox import OutboxWorker, WorkerPolicy
from invoice_archive.services.posting import build_worker
from invoice_archive.ports.taxplatform import PostingPurpose
from tests.support.app import make_service
from tests.support.invoices import synthetic_xml
from tests.support.journey import approve_claim, create_claim, post_invoice, post_voucher, voucher_report

RECENT = dt.datetime.now() - dt.timedelta(days=3)


def recent_xml(number: str = "24992000000000000001", **kw) -> bytes:
    return synthetic_xml(number, issued=RECENT, **kw)


@pytest.fixture
def platform():
    with FakeTaxPlatform(hang_seconds=1.0) as fake:
        yield fake


@pytest.fixture
def strict(db_url, tmp_path, platform):
    """Strict policy: only 'valid' signatures are claimable without a normal 查验."""
    svc = make_service(db_url, tmp_path / "store", **{
        "verification.reimbursable_verdicts": "valid",
        "taxplatform.backend": "invoice_archive_adapters.taxplatform.http:HttpTaxPlatform",
        "taxplatform.url": platform.url, "taxplatform.read_timeout": "0.4",
        "rules.category.travel.kinds": "digital_normal digital_special vat_e_normal vat_e_special railway_ticket",
        "rules.category.travel.max_total": "5000.00",
    })
    yield svc
    svc.engine.dispose()


def receive(svc, platform, data: bytes, answer: str | None = "normal") -> dict:
    doc = read_invoice(data)
    platform.register(doc)
    if answer and answer != "normal":
        platform.script(doc.number, answer)
    return post_invoice(svc, data).json


def test_a_normal_check_makes_an_unsigned_invoice_claimable(strict, platform):
    inv = receive(strict, platform, recent_xml())
    assert inv["verdict"] == "present_not_verifiable"
    assert inv["tax_status"] == "normal" and inv["tax_check"]["source"]
    create_claim(strict, [inv["id"]])


@pytest.mark.parametrize(("answer", "code"), [("voided", "invoice_voided"), ("not_found", "invoice_not_on_platform"),
                                              ("red_reversed", "invoice_red_reversed")])
def test_what_the_platform_refuses_is_not_reimbursed(strict, platform, answer, code):
    inv = receive(strict, platform, recent_xml(), answer)
    assert inv["tax_status"] == answer
    err = create_claim(strict, [inv["id"]], status=422).json["error"]
    assert err["code"] == code and err["message"]


def test_a_platform_outage_does_not_block_intake(strict, platform):
    inv = receive(strict, platform, recent_xml(), "timeout")
    assert inv["tax_status"] is None                 # no answer yet: ask again later
    err = create_claim(strict, [inv["id"]], status=422).json["error"]
    assert err["code"] == "tax_check_required"


def test_at_most_five_checks_a_day(strict, platform):
    inv = receive(strict, platform, recent_xml())    # intake's check is the first
    for _ in range(4):
        strict.app.post_json(f"/api/v1/invoices/{inv['id']}/tax-check", {}, headers=strict.headers("张经办"))
    err = strict.app.post_json(f"/api/v1/invoices/{inv['id']}/tax-check", {}, headers=strict.headers("张经办"),
                               status=429).json["error"]
    assert err["code"] == "tax_check_budget_exhausted"
    assert platform.checks_of("24992000000000000001") == 5


def test_invoices_older_than_a_year_are_flagged_not_failed(strict, platform):
    inv = post_invoice(strict, synthetic_xml(issued=dt.datetime(2022, 1, 5, 9, 0))).json
    assert inv["tax_status"] == "not_checkable_online"
    assert platform.checks_of("24992000000000000001") == 0   # not even asked


def test_wrong_buyer_is_refused(strict, platform):
    inv = receive(strict, platform, recent_xml(buyer_tax_id="91110000OTHER0001X", buyer_name="别家公司"))
    assert inv["rules"]["passed"] is False
    err = create_claim(strict, [inv["id"]], status=422).json["error"]
    assert err["code"] == "rules_failed"
    assert "buyer_tax_id" in err["detail"]["failing_rules"]


def test_amount_in_words_mismatch_is_flagged(strict, platform):
    data = recent_xml().replace("壹仟零陆拾圆整".encode(), "壹仟零陆拾壹圆整".encode())
    inv = receive(strict, platform, data)
    words = next(c for c in inv["rules"]["checks"] if c["code"] == "amount_in_words")
    assert words["result"] == "fail"
    err = create_claim(strict, [inv["id"]], status=422).json["error"]
    assert "amount_in_words" in err["detail"]["failing_rules"]


def test_category_limit(strict, platform):
    from invoice_archive.synth.xml import SynthLine

    from decimal import Decimal
    big = recent_xml(lines=(SynthLine(amount=Decimal("9000.00")),))
    inv = receive(strict, platform, big)
    err = create_claim(strict, [inv["id"]], status=422).json["error"]
    assert "category_limit" in err["detail"]["failing_rules"]


def test_red_invoice_after_reimbursement_raises_the_alert(strict, platform):
    blue = receive(strict, platform, recent_xml("24992000000000000001"))
    claim = approve_claim(strict, create_claim(strict, [blue["id"]]).json["id"])
    post_voucher(strict, voucher_report(claim, number="0009"))
    red = receive(strict, platform, recent_xml("24992000000000000002", red_of="24992000000000000001"))
    assert red["is_red"]
    got = strict.app.get(f"/api/v1/claims/{claim['id']}", headers=strict.headers("王审计")).json
    assert got["reversal_required"] is True
    [alert] = got["alerts"]
    assert alert["kind"] == "reversal_required" and "记-0009" in alert["message"]
    events = strict.app.get("/api/v1/audit/events?object_type=claim", headers=strict.headers("王审计")).json
    assert "claim.reversal_required" in [e["action"] for e in events["items"]]


def test_a_blue_invoice_whose_red_arrived_first_cannot_be_claimed(strict, platform):
    blue = receive(strict, platform, recent_xml("24992000000000000001"))
    receive(strict, platform, recent_xml("24992000000000000002", red_of="24992000000000000001"))
    err = create_claim(strict, [blue["id"]], status=422).json["error"]
    assert err["code"] == "invoice_red_reversed"


def _post_n(svc, platform, n: int) -> list[str]:
    keys = []
    for i in range(1, n + 1):
        number = f"249920000000000000{i:02d}"
        inv = receive(svc, platform, recent_xml(number))
        claim = approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])
        post_voucher(svc, voucher_report(claim, number=f"{i:04d}"))
        keys.append(number)
    return keys


def _worker(svc, platform) -> OutboxWorker:
    from invoice_archive_adapters.taxplatform.http import HttpTaxPlatform

    client = HttpTaxPlatform({"taxplatform.url": platform.url, "taxplatform.read_timeout": "0.4"})
    return build_worker(session_factory(svc.engine), taxplatform=client,
                        posting_purpose=PostingPurpose.POSTED_EIT_DEDUCTIBLE, policy=WorkerPolicy(backoff_base=0.0))


def test_posting_status_is_sent_once_per_invoice_even_when_the_sender_stops_midway(strict, platform):
    keys = _post_n(strict, platform, 4)
    assert platform.postings == []                      # nothing is sent inside a request
    _worker(strict, platform).run_once(limit=1)         # the sender stops after one
    platform.fail_next_posting("timeout_after_commit")  # the next reply is lost after the platform kept it
    _worker(strict, platform).run_once()                # a new sender carries on
    _worker(strict, platform).run_once()
    states = {key: platform.posting_state(key) for key in keys}
    assert states == dict.fromkeys(keys, "02")           # 已入账 (status code 02)
    assert len(platform.postings) == 4                  # one submission per invoice: nothing doubled
    assert sum(s.repeats for s in platform.postings) == 1   # the lost reply was resent, and recognised
    assert strict.count("outbox_messages") == 4
    with strict.engine.connect() as conn:
        from sqlalchemy import text

        statuses = Counter(conn.execute(text("SELECT status FROM outbox_messages")).scalars())
    assert statuses == Counter({"done": 4})


# -- the production configuration: 查验 enforced end to end (财会〔2020〕6号) ----------------------

def production_verification() -> dict[str, str]:
    """The verification settings production.ini ships (read from the file, not restated)."""
    import configparser
    from pathlib import Path

    ini = configparser.ConfigParser(interpolation=None)
    ini.read(Path(__file__).resolve().parents[2] / "production.ini", encoding="utf-8")
    return {k: v for k, v in ini["app:main"].items() if k.startswith("verification.") and k != "verification.trust_store"}


@pytest.fixture
def production(db_url, tmp_path, platform):
    settings = production_verification()
    assert settings["verification.unsigned_requires_tax_check"] == "true"
    svc = make_service(db_url, tmp_path / "store", **{
        **settings, "taxplatform.backend": "invoice_archive_adapters.taxplatform.http:HttpTaxPlatform",
        "taxplatform.url": platform.url, "taxplatform.read_timeout": "0.4",
    })
    yield svc
    svc.engine.dispose()


def test_production_refuses_an_unverified_invoice_until_the_check_says_normal_and_archives_the_answer(
        production, platform):
    import io
    import xml.etree.ElementTree as ET
    import zipfile

    from tests.support.journey import archive_period

    data = recent_xml("24992000000000000777")
    doc = read_invoice(data)
    platform.register(doc)
    platform.script(doc.number, "timeout")          # no answer at intake
    inv = post_invoice(production, data).json
    assert inv["verdict"] in ("unsigned", "present_not_verifiable") and inv["tax_status"] is None
    err = create_claim(production, [inv["id"]], status=422).json["error"]
    assert err["code"] == "tax_check_required"
    assert "查验" in err["message"] and "尚未查验" in err["message"] and "正常" in err["message"]
    assert err["detail"]["invoice_id"] == inv["id"]

    platform.script(doc.number, "normal")
    checked = production.app.post_json(f"/api/v1/invoices/{inv['id']}/tax-check", {},
                                       headers=production.headers("张经办")).json
    assert checked["tax_status"] == "normal"
    claim = create_claim(production, [inv["id"]]).json

    # a later answer that is not normal stops the approval: no money without it
    production.app.post_json(f"/api/v1/claims/{claim['id']}/submit", {}, headers=production.headers("张经办"))
    production.app.post_json(f"/api/v1/claims/{claim['id']}/review", {}, headers=production.headers("李审核"))
    platform.script(doc.number, "voided")
    production.app.post_json(f"/api/v1/invoices/{inv['id']}/tax-check", {}, headers=production.headers("张经办"))
    err = production.app.post_json(f"/api/v1/claims/{claim['id']}/approve", {}, headers=production.headers("陈审批"),
                                   status=422).json["error"]
    assert err["code"] == "tax_check_required" and "已作废" in err["message"]
    platform.script(doc.number, "normal")
    production.app.post_json(f"/api/v1/invoices/{inv['id']}/tax-check", {}, headers=production.headers("张经办"))
    approved = production.app.post_json(f"/api/v1/claims/{claim['id']}/approve", {},
                                        headers=production.headers("陈审批")).json
    post_voucher(production, voucher_report(approved, number="0777"))
    item = archive_period(production).json["archived"][0]

    package = production.app.get(f"/api/v1/archive/items/{item['id']}/package",
                                 headers=production.headers("王审计")).body
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        payload = {n.split("/data/", 1)[1]: zf.read(n) for n in zf.namelist() if "/data/" in n}
    meta = ET.fromstring(payload[f"{item['archival_code']}-metadata.xml"])
    [answer] = meta.iter("查验")
    assert answer.get("状态") == "normal" and answer.get("查验时间") and answer.get("对象") == doc.number
    [posting] = [d for n, d in payload.items() if "-05-入账信息-" in n]
    assert b"<inv:WhetherEinvoiceHasBeenChecked" in posting and b">true<" in posting


def test_listing_unsigned_as_reimbursable_does_not_bypass_the_check(db_url, tmp_path, platform):
    """verification.unsigned_requires_tax_check (production, and the built-in default)
    holds even when reimbursable_verdicts names unsigned."""
    svc = make_service(db_url, tmp_path / "store", **{
        "verification.reimbursable_verdicts": "valid unsigned present_not_verifiable",
        "verification.unsigned_requires_tax_check": "true",
        "taxplatform.backend": "invoice_archive_adapters.taxplatform.http:HttpTaxPlatform",
        "taxplatform.url": platform.url, "taxplatform.read_timeout": "0.4"})
    try:
        inv = receive(svc, platform, recent_xml("24992000000000000778"), "not_found")
        assert create_claim(svc, [inv["id"]], status=422).json["error"]["code"] == "invoice_not_on_platform"
        inv = receive(svc, platform, recent_xml("24992000000000000779"), "timeout")
        assert create_claim(svc, [inv["id"]], status=422).json["error"]["code"] == "tax_check_required"
    finally:
        svc.engine.dispose()
