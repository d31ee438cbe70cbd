"""Holds, appraisal (鉴定) and destruction (销毁) on the real app and database
(docs/disposition.md): the 鉴定意见书 and the 销毁清册 are drawn up and archived, a held item
is never destroyed, two different people approve, the 监销 is recorded, and a destroyed item
keeps its tombstone (metadata and digests) while its content leaves the store."""
from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import text

from invoice_archive.cli import main
from tests.support.invoices import synthetic_xml
from tests.support.journey import approve_claim, archive_period, create_claim, post_invoice, post_voucher, voucher_report
from tests.support.records import (
    SUPERVISORS, accounting_settings, add_people, appraise, approve, archive_records, book, execute, fake_books, hold,
    propose, receive_statement, waive,
)

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def books():
    with fake_books() as server:
        yield server


@pytest.fixture
def service_overrides(books):
    return accounting_settings(books)


@pytest.fixture
def expired(service, books):
    """Items whose retention has ended: two 2014 bank statements (10 years, to 2024-12-31),
    the 2015-01 monthly report (10 years, to 2025-12-31), a 1995 voucher with its invoice
    (30 years, to 2025-12-31); and the 2015-01 ledgers, kept 30 years, not expired."""
    add_people(service)
    receive_statement(service, year=2014, month=3)
    receive_statement(service, year=2014, month=3, account="6216600000000000002")
    archive_records(service, 2014, 3, sources=["intake"])
    book(books, "IA-BX-2015-0001-v1", year=2015, period=1)
    archive_records(service, 2015, 1)
    inv = post_invoice(service, synthetic_xml("24992000000000000001")).json
    claim = approve_claim(service, create_claim(service, [inv["id"]]).json["id"])
    # the claim is queued for the accounting system: its voucher is reported with the queued reference
    post_voucher(service, {**voucher_report(claim, year=1995, period=7, date="1995-07-20"),
                           "external_ref": f"IA-Z001-{claim['number']}-v1"})
    archive_period(service, 1995, 7)
    items = service.app.get("/api/v1/archive/items?limit=100", headers=service.headers("王审计")).json["items"]
    return {"invoice": inv, **{i["archival_code"]: i for i in items}}


def _by_kind(items: dict, kind: str) -> list[dict]:
    return [i for code, i in items.items() if code != "invoice" and (i["record_kind"] or "voucher") == kind]


def _package(svc, item_id: int, who: str = "王审计") -> dict[str, bytes]:
    body = svc.app.get(f"/api/v1/archive/items/{item_id}/package", headers=svc.headers(who)).body
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        return {name.split("/", 1)[1]: zf.read(name) for name in zf.namelist()}


def _record(files: dict[str, bytes]) -> ET.Element:
    [name] = [n for n in files if n.startswith("data/") and "-01-" in n]
    return ET.fromstring(files[name])


def test_the_items_due_are_those_whose_retention_ended(service, expired):
    due = service.app.get("/api/v1/archive/appraisals", headers=service.headers("赵档案")).json
    kinds = sorted(i["record_kind"] or "voucher" for i in due["items"])
    assert kinds == ["bank_statement", "bank_statement", "monthly_report", "voucher"]


def test_an_appraisal_concludes_each_item_and_archives_its_opinion(service, expired):
    [held] = _by_kind(expired, "monthly_report")
    hold(service, held["id"])
    appraisal = appraise(service).json
    conclusions = {e["archival_code"]: e["conclusion"] for e in appraisal["entries"]}
    assert conclusions[held["archival_code"]] == "held"
    assert sorted(conclusions.values()) == ["destroy", "destroy", "destroy", "held"]
    opinion = appraisal["opinion_item"]
    assert opinion["retention"] == "Y" and "-QT·" in opinion["archival_code"]
    root = _record(_package(service, opinion["id"]))
    assert root.tag == "会计档案鉴定意见书" and root.findtext("文号") == appraisal["number"]
    rows = {el.get("档号"): el for el in root.iter("件")}
    assert rows[held["archival_code"]].get("鉴定结论") == "暂缓销毁"
    assert "未结清的债权债务" in rows[held["archival_code"]].get("理由")
    assert {p.get("部门") for p in root.iter("人员")} >= {"档案管理机构", "会计管理机构"}
    # the opinion is itself an item, found among the archive's other records
    found = service.app.get("/api/v1/archive/items?record_kind=appraisal_opinion",
                            headers=service.headers("王审计")).json["items"]
    assert [i["document_number"] for i in found] == [appraisal["number"]]


def test_an_appraisal_needs_the_archives_and_accounting_units(service, expired):
    error = appraise(service, participants=[{"name": "赵档案", "unit": "档案管理机构"},
                                            {"name": "郑审计", "unit": "审计机构"}], status=422).json["error"]
    assert error["code"] == "appraisal_participants_invalid" and error["detail"]["missing_units"] == ["会计管理机构"]


def test_an_item_kept_longer_is_not_due_again_until_its_new_end(service, expired):
    [statement, _] = _by_kind(expired, "bank_statement")
    appraisal = appraise(service, retain=[{"item_id": statement["id"], "until": "2031-12-31",
                                           "reason": "涉及税务稽查，延长保管"}]).json
    entry = next(e for e in appraisal["entries"] if e["item_id"] == statement["id"])
    assert (entry["conclusion"], entry["retain_until"]) == ("retain", "2031-12-31")
    destruction = propose(service, appraisal["id"]).json
    assert statement["archival_code"] not in {i["archival_code"] for i in destruction["items"]}
    due = service.app.get("/api/v1/archive/appraisals", headers=service.headers("赵档案")).json
    assert due["total"] == 0          # the rest are on the destruction list, this one kept to 2031


def test_destruction_end_to_end(service, expired, capsys, monkeypatch):
    [held] = _by_kind(expired, "monthly_report")
    hold(service, held["id"])
    appraisal = appraise(service).json
    destruction = propose(service, appraisal["id"]).json
    assert destruction["status"] == "proposed" and len(destruction["items"]) == 3
    # two approvals by two different people; the same one twice is refused
    first = approve(service, destruction["id"], "李审核", "会计管理机构负责人").json
    assert first["status"] == "proposed"
    again = approve(service, destruction["id"], "李审核", "单位负责人", status=409).json["error"]
    assert again["code"] == "already_approved"
    # not yet approved twice: not executable
    assert execute(service, destruction["id"], 3, status=409).json["error"]["code"] == "destruction_state_conflict"
    second = approve(service, destruction["id"], "陈审批", "单位负责人").json
    assert second["status"] == "approved"
    # the 监销 must name the three units and count what the list says
    short = service.app.post_json(f"/api/v1/archive/destructions/{destruction['id']}/execute",
                                  {"supervisors": SUPERVISORS[:2] + [{"name": "冯信息", "unit": "审计机构"}],
                                   "counted": 3}, headers=service.headers("赵档案"), status=422).json["error"]
    assert short["code"] == "supervision_incomplete" and short["detail"]["missing_units"] == ["信息系统管理机构"]
    assert execute(service, destruction["id"], 2, status=422).json["error"]["code"] == "count_mismatch"
    before = {p.name for p in service.stored_files()}
    executing = execute(service, destruction["id"], 3).json
    assert executing["status"] == "executing" and len(executing["supervision"]) == 3
    done = service.app.get(f"/api/v1/archive/destructions/{destruction['id']}", headers=service.headers("王审计")).json
    assert done["status"] == "destroyed" and done["list_item"]["retention"] == "Y"
    # the destroyed items answer 410 for their content and keep their metadata and digests
    for entry in done["items"]:
        item = service.app.get(f"/api/v1/archive/items/{entry['item_id']}", headers=service.headers("王审计")).json
        assert item["destroyed"]["destruction"] == destruction["number"] and item["package_sha256"]
        gone = service.app.get(f"/api/v1/archive/items/{entry['item_id']}/package", headers=service.headers("王审计"),
                               status=410).json["error"]
        assert gone["code"] == "archive_item_destroyed"
        key = item["archival_code"] + ".zip"
        assert key in before and key not in {p.name for p in service.stored_files()}
    # the voucher's original invoice went with it; the held report did not
    assert service.app.get(f"/api/v1/invoices/{expired['invoice']['id']}/original", headers=service.headers("王审计"),
                           status=410).json["error"]["code"] == "original_destroyed"
    assert _package(service, held["id"])
    with service.engine.connect() as conn:
        tombs = conn.execute(text("SELECT archival_code, metadata_xml, package_sha256 FROM archive_tombstones")).all()
    assert len(tombs) == 3 and all("<电子会计档案元数据>" in m and code in m for code, m, _ in tombs)
    # the final 销毁清册: the items with 应保管期限, 已保管期限 and 销毁时间, the approvals, the 监销, the held one apart
    root = _record(_package(service, done["list_item"]["id"]))
    listed = root.find("拟销毁档案")
    assert listed.get("件数") == "3" and all(el.get("销毁时间") for el in listed)
    assert {el.get("应保管期限") for el in listed} == {"10年", "30年"}
    assert [s.get("身份") for s in root.iter("签名")] == ["会计管理机构负责人", "单位负责人"]
    assert {s.get("部门") for s in root.iter("监销人")} == {"档案管理机构", "会计管理机构", "信息系统管理机构"}
    assert [el.get("档号") for el in root.find("暂缓销毁档案")] == [held["archival_code"]]
    # executing again is refused; the fixity audit expects the removed objects absent
    assert execute(service, destruction["id"], 3, status=409).json["error"]["code"] == "destruction_already_executed"
    monkeypatch.setenv("DATABASE_URL", service.db_url)
    monkeypatch.setenv("ARCHIVE_STORE_URL", service.store_dir.as_uri())
    assert main(["-c", str(PROJECT / "development.ini"), "audit-fixity", "--quiet", "--json"]) == 0, \
        capsys.readouterr().out


def test_a_hold_placed_after_approval_stops_the_execution(service, expired):
    appraisal = appraise(service).json
    destruction = propose(service, appraisal["id"]).json
    approve(service, destruction["id"], "李审核", "会计管理机构负责人")
    approve(service, destruction["id"], "陈审批", "单位负责人")
    victim = destruction["items"][0]
    hold(service, victim["item_id"], "合同纠纷未了")
    error = execute(service, destruction["id"], len(destruction["items"]), status=409).json["error"]
    assert error["code"] == "item_on_hold" and victim["archival_code"] in error["message"]
    assert service.count("archive_tombstones") == 0
    assert _package(service, victim["item_id"])


def test_a_refusal_cancels_the_list_and_frees_its_items(service, expired):
    appraisal = appraise(service).json
    destruction = propose(service, appraisal["id"]).json
    refused = service.app.post_json(f"/api/v1/archive/destructions/{destruction['id']}/refuse",
                                    {"capacity": "单位负责人", "opinion": "暂不销毁，待审计结束"},
                                    headers=service.headers("陈审批")).json
    assert refused["status"] == "cancelled" and refused["cancel_reason"] == "暂不销毁，待审计结束"
    assert propose(service, appraisal["id"]).json["status"] == "proposed"


def test_the_proposer_may_not_approve_even_with_an_approvers_token(service, expired):
    appraisal = appraise(service).json
    destruction = propose(service, appraisal["id"]).json
    token = service.add_person("赵档案", "approver")     # the same person, another role
    error = service.app.post_json(f"/api/v1/archive/destructions/{destruction['id']}/approve",
                                  {"capacity": "档案管理机构负责人"}, headers={"Authorization": f"Bearer {token}"},
                                  status=403).json["error"]
    assert error["code"] == "segregation_of_duties"


def test_a_held_item_cannot_be_put_on_a_destruction_list(service, expired):
    appraisal = appraise(service).json
    [statement] = [e for e in appraisal["entries"] if e["conclusion"] == "destroy"][:1]
    hold(service, statement["item_id"], "银行账户冻结，涉诉")
    error = propose(service, appraisal["id"], item_ids=[statement["item_id"]], status=409).json["error"]
    assert error["code"] == "item_on_hold"
    held = service.app.get(f"/api/v1/archive/holds?item_id={statement['item_id']}&active=true",
                           headers=service.headers("赵档案")).json["items"]
    released = service.app.post_json(f"/api/v1/archive/holds/{held[0]['id']}/release", {"reason": "诉讼已结案"},
                                     headers=service.headers("李审核")).json
    assert released["released_by"] == "李审核"
    assert propose(service, appraisal["id"], item_ids=[statement["item_id"]]).json["status"] == "proposed"


def test_nothing_due_is_a_clear_409(service, books):
    error = appraise(service, status=409).json["error"]
    assert error["code"] == "nothing_to_appraise"


def test_the_listing_command_previews_the_items_due(service, expired, capsys, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", service.db_url)
    monkeypatch.setenv("ARCHIVE_STORE_URL", service.store_dir.as_uri())
    assert main(["-c", str(PROJECT / "development.ini"), "appraisal", "--org", "Z001", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["retention_until"] for r in rows) == ["2024-12-31", "2024-12-31", "2025-12-31", "2025-12-31"]


def test_a_custody_list_names_each_items_state_and_the_held_ones_apart(service, expired):
    [held] = _by_kind(expired, "monthly_report")
    hold(service, held["id"])
    item = service.app.post_json("/api/v1/archive/custody-lists", {"fiscal_year": 2015, **waive(service)},
                                 headers=service.headers("赵档案"), status=201).json
    assert item["record_kind"] == "custody_list" and item["retention"] == "Y"
    assert item["document_number"].startswith("BGQC-")
    root = _record(_package(service, item["id"]))
    states = {el.get("档号"): el.get("状态") for el in root.find("保管档案")}
    assert states[held["archival_code"]] == "暂缓销毁" and set(states.values()) == {"在库", "暂缓销毁"}
    assert [el.get("档号") for el in root.find("单独转存档案")] == [held["archival_code"]]
    error = service.app.post_json("/api/v1/archive/custody-lists", {"fiscal_year": 1999},
                                  headers=service.headers("赵档案"), status=409).json["error"]
    assert error["code"] == "nothing_in_custody"
