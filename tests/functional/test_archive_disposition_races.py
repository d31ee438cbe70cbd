"""Nothing destroyed, approved or transferred twice: the state changes that move archive items
(docs/disposition.md) decided once under competing requests.

On PostgreSQL, with a live server and the competing requests released together by a barrier
(tests/support/race.py): two destruction lists of one item, approvals at once, executions
at once, a hold racing an execution, two transfers of one year, sign-offs at once.
"""
from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import text

from tests.support.app import make_service
from tests.support.race import http_race, outcome
from tests.support.records import APPRAISERS, SUPERVISORS, add_people, archive_records, receive_statement, waive
from tests.support.server import serve

pytestmark = pytest.mark.postgresql
N = 8


@pytest.fixture
def pg_url(postgres_databases):
    url = postgres_databases.clone()
    yield url
    postgres_databases.drop(url)


@pytest.fixture
def live(pg_url, tmp_path):
    svc = make_service(pg_url, tmp_path / "store", **{"pyramid_openapi3.enable_response_validation": "false",
                                                      "bundle.signing_key": str(tmp_path / "key.pem"),
                                                      "bundle.signing_key_generate": "true"})
    add_people(svc)
    for who, role in (("郑负责人", "approver"), ("王负责人", "approver"), ("吴会计", "finance")):
        svc.add_person(who, role)
    with serve(svc.app.app, threads=2 * N) as url:
        yield svc, url
    svc.engine.dispose()


def _scalar(svc, sql: str, **params):
    with svc.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def _statements(svc, year: int, n: int) -> list[dict]:
    for i in range(n):
        receive_statement(svc, year=year, month=3, account=f"62166000000000{i:05d}")
    return archive_records(svc, year, 3, sources=["intake"]).json["archived"]


def _appraisal(svc) -> dict:
    return svc.app.post_json("/api/v1/archive/appraisals", {"participants": APPRAISERS, "opinion": "保管期满，可以销毁",
                                                            **waive(svc)}, headers=svc.headers("赵档案")).json


def _approved(svc, appraisal_id: int) -> dict:
    d = svc.app.post_json("/api/v1/archive/destructions", {"appraisal_id": appraisal_id},
                          headers=svc.headers("赵档案")).json
    for who, capacity in (("李审核", "会计管理机构负责人"), ("陈审批", "单位负责人")):
        svc.app.post_json(f"/api/v1/archive/destructions/{d['id']}/approve", {"capacity": capacity},
                          headers=svc.headers(who))
    return d


def test_two_destruction_lists_of_one_item_one_wins(live):
    svc, url = live
    _statements(svc, 2014, 3)
    appraisal = _appraisal(svc)
    for _ in range(3):
        responses = http_race(url, [("POST", "/api/v1/archive/destructions", svc.headers("赵档案"),
                                     {"appraisal_id": appraisal["id"]})] * N)
        counts = outcome(responses)
        assert counts[201] == 1 and counts[(409, "item_on_destruction_list")] == N - 1, counts
        assert _scalar(svc, "SELECT count(*) FROM destruction_entries WHERE released_at IS NULL") == 3
        [winner] = [r.json() for r in responses if r.status_code == 201]
        svc.app.post_json(f"/api/v1/archive/destructions/{winner['id']}/refuse", {"capacity": "单位负责人"},
                          headers=svc.headers("陈审批"))   # frees the items for the next round
    assert _scalar(svc, "SELECT count(*) FROM destructions") == 3


def test_approvals_at_once_approve_once(live):
    svc, url = live
    _statements(svc, 2014, 2)
    appraisal = _appraisal(svc)
    for _ in range(3):
        d = svc.app.post_json("/api/v1/archive/destructions", {"appraisal_id": appraisal["id"]},
                              headers=svc.headers("赵档案")).json
        people = ["李审核", "李审核", "陈审批", "陈审批", "郑负责人", "王负责人", "周负责人", "孙主管"]
        responses = http_race(url, [("POST", f"/api/v1/archive/destructions/{d['id']}/approve", svc.headers(p),
                                     {"capacity": "单位负责人", "opinion": "同意"}) for p in people])
        counts = outcome(responses)
        assert counts[200] == 2, counts           # two approvals, by two people, then the list is approved
        assert set(counts) - {200} <= {(409, "already_approved"), (409, "destruction_state_conflict")}, counts
        rows = _scalar(svc, "SELECT count(*) FROM destruction_approvals WHERE destruction_id = :d", d=d["id"])
        assert rows == 2
        assert _scalar(svc, "SELECT status FROM destructions WHERE id = :d", d=d["id"]) == "approved"
        assert _scalar(svc, "SELECT count(*) FROM audit_events WHERE action = 'archive.destruction_approved' "
                            "AND object_id = :n", n=d["number"]) == 1
        svc.app.post_json(f"/api/v1/archive/destructions/{d['id']}/refuse", {"capacity": "单位负责人"},
                          headers=svc.headers("周负责人"), status=409)   # approved: too late to refuse
        # free the items for the next round: a new appraisal's list is needed once this one is approved
        with svc.engine.begin() as conn:
            conn.execute(text("UPDATE destruction_entries SET released_at = now() WHERE destruction_id = :d"),
                         {"d": d["id"]})
            conn.execute(text("UPDATE destructions SET status = 'cancelled' WHERE id = :d"), {"d": d["id"]})


def test_executions_at_once_destroy_each_item_once(live):
    svc, url = live
    items = _statements(svc, 2014, 4)
    d = _approved(svc, _appraisal(svc)["id"])
    body = {"supervisors": SUPERVISORS, "counted": 4, **waive(svc)}
    responses = http_race(url, [("POST", f"/api/v1/archive/destructions/{d['id']}/execute", svc.headers("赵档案"),
                                 body)] * N)
    counts = outcome(responses)
    assert counts[202] >= 1 and set(counts) <= {202, (409, "destruction_already_executed")}, counts
    final = svc.app.get(f"/api/v1/archive/destructions/{d['id']}", headers=svc.headers("王审计")).json
    assert final["status"] == "destroyed"
    assert _scalar(svc, "SELECT count(*) FROM archive_tombstones") == 4
    assert _scalar(svc, "SELECT count(*) FROM archive_items WHERE record_kind = 'destruction_list'") == 1
    assert _scalar(svc, "SELECT count(*) FROM audit_events WHERE action = 'archive.destruction_completed'") == 1
    stored = {p.name for p in svc.stored_files()}
    assert not any(i["archival_code"] + ".zip" in stored for i in items)


def test_a_hold_racing_an_execution_never_leaves_a_held_item_destroyed(live):
    svc, url = live
    for year in (2012, 2013, 2014):
        items = _statements(svc, year, 2)
        d = _approved(svc, _appraisal(svc)["id"])
        victim = items[0]["id"]
        responses = http_race(url, [
            ("POST", f"/api/v1/archive/destructions/{d['id']}/execute", svc.headers("赵档案"),
             {"supervisors": SUPERVISORS, "counted": 2, **waive(svc)}),
            ("POST", "/api/v1/archive/holds", svc.headers("李审核"),
             {"item_id": victim, "matter": "unsettled_debt", "reason": "应收账款尚未收回"})])
        execution, placed = responses
        held = _scalar(svc, "SELECT count(*) FROM archive_holds WHERE item_id = :i AND released_at IS NULL", i=victim)
        destroyed = _scalar(svc, "SELECT count(*) FROM archive_tombstones WHERE item_id = :i", i=victim)
        assert held + destroyed == 1, (execution.status_code, placed.status_code)
        if held:
            assert placed.status_code == 201 and execution.json()["error"]["code"] == "item_on_hold"
        else:
            assert execution.status_code == 202 and placed.json()["error"]["code"] == "archive_item_destroyed"


def test_two_transfers_of_one_year_at_once_one_wins(live):
    svc, url = live
    _statements(svc, 2024, 3)
    responses = http_race(url, [("POST", "/api/v1/archive/transfers", svc.headers("钱会计"),
                                 {"fiscal_year": 2024, "receiver_unit": "档案室"})] * N)
    counts = outcome(responses)
    assert counts[201] == 1 and set(counts) - {201} <= {(409, "item_on_transfer"), (409, "nothing_to_transfer")}, counts
    assert _scalar(svc, "SELECT count(*) FROM transfer_entries WHERE released_at IS NULL") == 3


def test_sign_offs_at_once_complete_the_transfer_once(live):
    svc, url = live
    _statements(svc, 2024, 2)
    t = svc.app.post_json("/api/v1/archive/transfers", {"fiscal_year": 2024, "receiver_unit": "档案室"},
                          headers=svc.headers("钱会计")).json
    path = f"/api/v1/archive/transfers/{t['id']}/sign"
    handovers = http_race(url, [("POST", path, svc.headers(p), {"role": "handover"})
                                for p in ("钱会计", "吴会计", "钱会计", "张经办")])
    assert outcome(handovers)[200] == 1, outcome(handovers)
    svc.app.post_json(path, {"role": "receiver", **waive(svc)}, headers=svc.headers("赵档案"))
    supervisors = ["李审核", "陈审批", "周负责人", "孙主管", "郑负责人", "王负责人"]
    responses = http_race(url, [("POST", path, svc.headers(p), {"role": "supervisor", **waive(svc)})
                                for p in supervisors])
    counts = outcome(responses)
    assert counts[200] == 1, counts
    assert set(counts) - {200} <= {(409, "signoff_already_recorded"), (409, "transfer_state_conflict")}, counts
    assert _scalar(svc, "SELECT count(*) FROM transfer_signoffs WHERE transfer_id = :t", t=t["id"]) == 3
    assert _scalar(svc, "SELECT count(*) FROM archive_items WHERE record_kind = 'transfer_list'") == 1
    assert Counter(r.json()["status"] for r in responses if r.status_code == 200) == {"completed": 1}
