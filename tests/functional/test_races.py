"""Nothing doubled: every state change of a claim, and every hand-over to the
accounting system, decided once under competing requests.

On PostgreSQL (the production database), with a live server and the competing
requests released together by a barrier, round after round: exactly one request
wins, the others get a 409 with a stable code, and the sign-off trail, the
invoice's links and the accounting system's ledger record one decision.
"""
from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support.app import make_service
from tests.support.invoices import synthetic_xml
from tests.support.journey import create_claim, post_invoice, voucher_report
from tests.support.posting import posting_rig
from tests.support.race import http_race, outcome
from tests.support.server import serve

pytestmark = pytest.mark.postgresql
PROJECT = Path(__file__).resolve().parents[2]

ROUNDS = 5
N = 20
CONFLICT = (409, "claim_state_conflict")


@pytest.fixture
def pg_url(postgres_databases):
    url = postgres_databases.clone()
    yield url
    postgres_databases.drop(url)


@pytest.fixture
def live(pg_url, tmp_path):
    svc = make_service(pg_url, tmp_path / "store", **{"pyramid_openapi3.enable_response_validation": "false"})
    with serve(svc.app.app, threads=N) as url:
        yield svc, url
    svc.engine.dispose()


def _scalar(svc, sql: str, **params):
    with svc.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


_numbers = itertools.count(1)


def _claim_at(svc, stage: str) -> tuple[dict, dict]:
    inv = post_invoice(svc, synthetic_xml(f"2499200000000{next(_numbers):07d}")).json
    claim = create_claim(svc, [inv["id"]]).json
    steps = {"draft": [], "submitted": ["submit"], "reviewed": ["submit", "review"]}[stage]
    who = {"submit": "张经办", "review": "李审核"}
    for step in steps:
        svc.app.post_json(f"/api/v1/claims/{claim['id']}/{step}", {}, headers=svc.headers(who[step]))
    return inv, claim


def _decisions(svc, claim_id: int, steps: tuple[str, ...]) -> int:
    marks = ", ".join(f"'{s}'" for s in steps)
    return _scalar(svc, f"SELECT count(*) FROM claim_signoffs WHERE claim_id = :c AND step IN ({marks})", c=claim_id)


def test_approve_and_refuse_at_once_one_decision(live):
    """The attack that paid twice: approve and refuse together left an approved
    claim whose invoice was released, so a second claim took the invoice."""
    svc, url = live
    for _ in range(ROUNDS):
        inv, claim = _claim_at(svc, "reviewed")
        cid = claim["id"]
        requests = [("POST", f"/api/v1/claims/{cid}/approve", svc.headers("陈审批"), {"comment": "同意"})
                    if i % 2 else
                    ("POST", f"/api/v1/claims/{cid}/refuse", svc.headers("陈审批"), {"reason": "票据不全"})
                    for i in range(N)]
        result = outcome(http_race(url, requests))
        assert result[200] == 1 and result[CONFLICT] == N - 1, result
        assert _decisions(svc, cid, ("审批", "退回")) == 1
        status = _scalar(svc, "SELECT status FROM claims WHERE id = :c", c=cid)
        held = _scalar(svc, "SELECT count(*) FROM claim_invoices WHERE invoice_id = :i AND released_at IS NULL",
                       i=inv["id"])
        inv_status = _scalar(svc, "SELECT status FROM invoices WHERE id = :i", i=inv["id"])
        if status == "approved":
            assert (held, inv_status) == (1, "claimed")
            # the invoice stays with the approved claim: no second claim can take it
            create_claim(svc, [inv["id"]], status=409)
        else:
            assert status == "refused" and (held, inv_status) == (0, "received")
            create_claim(svc, [inv["id"]], status=201)


@pytest.mark.parametrize("stage, step, who, to, trail", [
    ("draft", "submit", "张经办", "submitted", "经办"),
    ("submitted", "review", "李审核", "reviewed", "审核"),
    ("reviewed", "approve", "陈审批", "approved", "审批"),
])
def test_the_same_step_at_once_is_taken_once(live, stage, step, who, to, trail):
    svc, url = live
    for _ in range(ROUNDS):
        _, claim = _claim_at(svc, stage)
        cid = claim["id"]
        responses = http_race(url, [("POST", f"/api/v1/claims/{cid}/{step}", svc.headers(who), {})] * N)
        result = outcome(responses)
        assert result[200] == 1 and result[CONFLICT] == N - 1, result
        assert _decisions(svc, cid, (trail,)) == 1
        assert _scalar(svc, "SELECT status FROM claims WHERE id = :c", c=cid) == to
        events = _scalar(svc, "SELECT count(*) FROM audit_events WHERE object_id = :n AND action = :a",
                         n=claim["number"], a=f"claim.{to}")
        assert events == 1
        loser = next(r for r in responses if r.status_code == 409).json()["error"]
        assert loser["detail"]["status"] == to and "当前状态" in loser["message"]


# -- posting: the worker, a report by hand, a second post and a reversal ---------------

@pytest.fixture
def kingdee(pg_url, tmp_path):
    with posting_rig("kingdee", pg_url, tmp_path / "store",
                     **{"pyramid_openapi3.enable_response_validation": "false"}) as rig:
        with serve(rig.service.app.app, threads=N) as url:
            yield rig, url


def _approved(rig) -> dict:
    svc = rig.service
    _, claim = _claim_at(svc, "reviewed")
    return svc.app.post_json(f"/api/v1/claims/{claim['id']}/approve", {}, headers=svc.headers("陈审批")).json


def _vouchers_in_kingdee(rig, ref_prefix: str) -> int:
    return sum(1 for v in rig.fake.vouchers if (v.external_ref or "").startswith(ref_prefix))


def test_a_claim_queued_for_posting_cannot_also_be_reported_by_hand(kingdee):
    """The worker posts while the accounting system's user reports a voucher by
    hand for the same claim: one voucher in Kingdee, one in the archive."""
    from tests.support.race import race

    rig, url = kingdee
    svc = rig.service
    for n in range(ROUNDS):
        claim = _approved(rig)
        assert claim["status"] == "posting"
        report = voucher_report(claim, number=f"9{n:03d}")
        worker = rig.worker()

        def by_hand():
            import httpx
            return httpx.post(f"{url}/api/v1/vouchers", json=report, headers=svc.headers("总账系统"), timeout=120)

        _, manual = race([worker.run_once, by_hand])
        # refused whichever came first: still queued, or already posted by the worker
        assert manual.status_code == 409, manual.text
        assert manual.json()["error"]["code"] in ("claim_posting_queued", "duplicate_posting"), manual.text
        assert _vouchers_in_kingdee(rig, f"IA-Z001-{claim['number']}-") == 1
        assert _scalar(svc, "SELECT count(*) FROM vouchers WHERE claim_id = :c", c=claim["id"]) == 1
        after = svc.app.get(f"/api/v1/claims/{claim['id']}", headers=svc.headers("王审计")).json
        assert after["status"] == "posted" and after["posting"]["status"] == "done"


def test_the_queued_voucher_itself_reported_by_hand_settles_the_message(kingdee):
    """The accounting system may report the very voucher the worker asked for (it
    carries the queued reference): it is recorded once and the message is settled."""
    rig, _ = kingdee
    svc = rig.service
    claim = _approved(rig)
    report = {**voucher_report(claim), "external_ref": claim["posting"]["external_ref"]}
    svc.app.post_json("/api/v1/vouchers", report, headers=svc.headers("总账系统"), status=201)
    after = svc.app.get(f"/api/v1/claims/{claim['id']}", headers=svc.headers("王审计")).json
    assert after["status"] == "posted" and after["posting"]["status"] == "done"
    assert rig.worker().run_once() == 0
    assert rig.fake.vouchers == []


def test_post_again_at_once_is_queued_once(kingdee):
    rig, url = kingdee
    svc = rig.service
    for _ in range(ROUNDS):
        claim = _approved(rig)
        rig.fake.fail_next("period_closed")
        rig.worker().run_once()
        assert svc.app.get(f"/api/v1/claims/{claim['id']}", headers=svc.headers("王审计")).json["status"] == "approved"
        result = outcome(http_race(url, [("POST", f"/api/v1/claims/{claim['id']}/post",
                                          svc.headers("张经办"), {})] * N))
        assert result[200] == 1 and sum(result.values()) == N, result
        assert set(result) - {200} <= {(409, "posting_already_queued"), CONFLICT}
        rig.worker().run_once()
        assert _vouchers_in_kingdee(rig, f"IA-Z001-{claim['number']}-") == 1


def test_a_reversal_requested_at_once_is_queued_once(kingdee):
    rig, url = kingdee
    svc = rig.service
    for _ in range(ROUNDS):
        claim = _approved(rig)
        rig.worker().run_once()
        rig.fake.app.ledger.post_all()      # posted in Kingdee: reversed by a red voucher
        voucher_id = svc.app.get(f"/api/v1/claims/{claim['id']}", headers=svc.headers("王审计")).json["voucher"]["id"]
        result = outcome(http_race(url, [("POST", f"/api/v1/vouchers/{voucher_id}/reverse", svc.headers("总账系统"),
                                           {"reason": "发票开错"})] * N))
        assert result == Counter({202: 1, (409, "reversal_already_requested"): N - 1}), result
        rig.worker().run_once()
        assert _vouchers_in_kingdee(rig, f"IA-Z001-{claim['number']}-") == 2      # blue and one red
        assert _scalar(svc, "SELECT count(*) FROM vouchers WHERE reverses_id = :v", v=voucher_id) == 1


def test_a_stuck_message_shows_on_the_claim_and_in_worker_status(kingdee, monkeypatch, capsys):
    """Attempts exhausted without an answer: the claim says so, `worker --status`
    lists it (exit 1), and posting again reuses the reference, so the voucher
    that did reach Kingdee is found, not made twice."""
    from invoice_archive.cli import main
    from invoice_archive.outbox import WorkerPolicy
    from invoice_archive.services.posting import build_worker
    from invoice_archive.db import session_factory

    rig, _ = kingdee
    svc = rig.service
    claim = _approved(rig)
    rig.fake.fail_next("timeout_after_commit")      # Kingdee saves it, the reply is lost
    build_worker(session_factory(svc.engine), rig.accounting(), svc.app_settings.posting.mapping,
                 policy=WorkerPolicy(backoff_base=0.0, max_attempts=1), posted_when=rig.posted_when).run_once()
    stuck = svc.app.get(f"/api/v1/claims/{claim['id']}", headers=svc.headers("王审计")).json
    assert stuck["status"] == "posting"
    assert stuck["posting"]["status"] == "failed" and stuck["posting"]["stuck"] is True

    monkeypatch.setenv("DATABASE_URL", svc.db_url)
    capsys.readouterr()
    assert main(["-c", str(PROJECT / "development.ini"), "worker", "--status"]) == 1
    out = capsys.readouterr().out
    assert "停滞" in out and stuck["posting"]["external_ref"] in out and claim["number"] in out

    svc.app.post_json(f"/api/v1/claims/{claim['id']}/post", {}, headers=svc.headers("张经办"))
    rig.worker().run_once()
    after = svc.app.get(f"/api/v1/claims/{claim['id']}", headers=svc.headers("王审计")).json
    assert after["status"] == "posted" and after["posting"]["external_ref"] == stuck["posting"]["external_ref"]
    assert _vouchers_in_kingdee(rig, f"IA-Z001-{claim['number']}-") == 1


def test_archive_runs_of_one_period_at_once_archive_each_voucher_once(live):
    from tests.support.journey import approve_claim, post_voucher, prepare_archiving

    svc, url = live
    for i in range(1, 6):
        inv = post_invoice(svc, synthetic_xml(f"2499200000009{i:07d}")).json
        claim = approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])
        post_voucher(svc, voucher_report(claim, number=f"{i:04d}"))
    prepare_archiving(svc, 2024, 7)
    responses = http_race(url, [("POST", "/api/v1/archive/runs", svc.headers("赵档案"),
                                 {"fiscal_year": 2024, "period": 7})] * 8)
    assert outcome(responses) == Counter({201: 8}), outcome(responses)
    archived = [a["archival_code"] for r in responses for a in r.json()["archived"]]
    assert len(archived) == len(set(archived)) == 5                 # each voucher once, by one run
    numbers = [r[0] for r in _rows(svc, "SELECT item_no FROM archive_items ORDER BY item_no")]
    assert numbers == [1, 2, 3, 4, 5]
    packages = [p for p in svc.stored_files() if "packages" in p.parts]
    assert len(packages) == 5                                         # the losers left nothing behind


def _rows(svc, sql: str) -> list:
    with svc.engine.connect() as conn:
        return list(conn.execute(text(sql)))


# -- the complete archive: waivers, and runs over a red voucher --------------------------

@pytest.fixture
def live_no_scanner(pg_url, tmp_path):
    """A live server whose virus scanner cannot run: every item needs a waiver."""
    from tests.support.clamav import unavailable_scanner_settings

    svc = make_service(pg_url, tmp_path / "store", **{"pyramid_openapi3.enable_response_validation": "false",
                                                      **unavailable_scanner_settings()})
    with serve(svc.app.app, threads=N) as url:
        yield svc, url
    svc.engine.dispose()


def _posted_voucher(svc, number: str) -> dict:
    from tests.support.journey import approve_claim, post_voucher

    inv = post_invoice(svc, synthetic_xml(f"2499200000007{next(_numbers):07d}")).json
    claim = approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])
    return post_voucher(svc, voucher_report(claim, number=number)).json


WAIVE = {"checks": ["GD-4-1", "GD-4-2"], "reason": "病毒扫描程序停用，经批准先行归档"}


def test_waivers_of_one_check_at_once_are_recorded_once(live_no_scanner):
    svc, url = live_no_scanner
    for n in range(1, ROUNDS + 1):
        voucher = _posted_voucher(svc, f"{n:04d}")
        responses = http_race(url, [("POST", "/api/v1/archive/waivers", svc.headers("赵档案"),
                                     {"voucher_id": voucher["id"], **WAIVE})] * N)
        result = outcome(responses)
        assert result[201] == 1 and result[(409, "waiver_already_recorded")] == N - 1, result
        assert _scalar(svc, "SELECT count(*) FROM archive_check_waivers WHERE voucher_id = :v", v=voucher["id"]) == 2
        assert _scalar(svc, "SELECT count(*) FROM audit_events WHERE action = 'archive.check_waived' "
                            "AND object_id = :v", v=str(voucher["id"])) == 2
        loser = next(r for r in responses if r.status_code == 409).json()["error"]
        assert "赵档案" in loser["message"] and loser["detail"]["waivers"][0]["reason"] == WAIVE["reason"]


def test_a_waiver_racing_archive_runs_never_lets_an_item_in_without_it(live_no_scanner):
    """The runs either see the waiver (and archive the item, once, with the waiver in
    its report) or do not (and leave the item blocked): never an item without it."""
    svc, url = live_no_scanner
    voucher = _posted_voucher(svc, "0001")
    run = ("POST", "/api/v1/archive/runs", svc.headers("赵档案"), {"fiscal_year": 2024, "period": 7})
    waiver = ("POST", "/api/v1/archive/waivers", svc.headers("赵档案"), {"voucher_id": voucher["id"], **WAIVE})
    responses = http_race(url, [waiver] + [run] * (N - 1))
    assert outcome(responses) == Counter({201: N}), outcome(responses)
    for r in responses[1:]:
        body = r.json()
        assert [i["voucher_id"] for i in body["archived"]] in ([], [voucher["id"]])
        if not body["archived"] and body["failed"]:
            assert body["failed"][0]["code"] == "four_property_check_not_performed"
    svc.app.post_json("/api/v1/archive/runs", {"fiscal_year": 2024, "period": 7}, headers=svc.headers("赵档案"))
    [(checks,)] = _rows(svc, "SELECT checks FROM archive_items")
    assert [w["code"] for w in checks["waivers"]] == ["GD-4-1", "GD-4-2"] and checks["blocking"] == []


def test_archive_runs_of_a_period_with_a_red_voucher_at_once(kingdee):
    from tests.support.journey import prepare_archiving

    rig, url = kingdee
    svc = rig.service
    claim = _approved(rig)
    rig.worker().run_once()
    blue = svc.app.get(f"/api/v1/claims/{claim['id']}", headers=svc.headers("王审计")).json["voucher"]
    blue = svc.app.get(f"/api/v1/vouchers/{blue['id']}", headers=svc.headers("王审计")).json
    svc.app.post_json(f"/api/v1/vouchers/{blue['id']}/reverse", {"reason": "发票开具有误", "date": blue["date"]},
                      headers=svc.headers("陈审批"), status=202)
    rig.worker().run_once()
    prepare_archiving(svc, blue["fiscal_year"], blue["period"])
    responses = http_race(url, [("POST", "/api/v1/archive/runs", svc.headers("赵档案"),
                                 {"fiscal_year": blue["fiscal_year"], "period": blue["period"]})] * N)
    assert outcome(responses) == Counter({201: N}), outcome(responses)
    archived = [a for r in responses for a in r.json()["archived"]]
    assert len(archived) == 2 and len({a["voucher_id"] for a in archived}) == 2     # each voucher once
    rows = _rows(svc, "SELECT a.item_no, v.red_flag FROM archive_items a JOIN vouchers v ON v.id = a.voucher_id "
                      "ORDER BY a.item_no")
    assert [(n, bool(red)) for n, red in rows] == [(1, False), (2, True)]            # blue first, no gap
    red_item = next(a for a in archived if a["red_flag"])
    assert red_item["reverses"]["archival_code"] == next(a for a in archived if not a["red_flag"])["archival_code"]
    assert len([p for p in svc.stored_files() if "packages" in p.parts]) == 2
