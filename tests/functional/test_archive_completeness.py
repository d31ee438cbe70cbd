"""The complete accounting archive (会计档案管理办法, DA/T 70): every voucher of a
period is archived, red reversing vouchers beside the voucher they reverse; a
period with a voucher still on its way is refused until explained; a check that
could not be performed blocks an item until an archivist waives it.

On the test database's dialect (SQLite by default; TEST_DATABASE_URL=postgresql...
runs the same tests on PostgreSQL)."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from tests.support.app import make_service
from tests.support.clamav import unavailable_scanner_settings
from tests.support.invoices import synthetic_xml
from tests.support.journey import (
    approve_claim, archive_period, create_claim, post_invoice, post_voucher, voucher_report,
)
from tests.support.posting import posting_rig

ARCHIVIST = "赵档案"


def _get(svc, path: str, who: str = "王审计") -> dict:
    return svc.app.get(path, headers=svc.headers(who)).json


def _package(svc, item: dict) -> dict[str, bytes]:
    body = svc.app.get(f"/api/v1/archive/items/{item['id']}/bundle", headers=svc.headers("王审计")).body
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        return {n.split("/data/", 1)[1]: zf.read(n) for n in zf.namelist() if "/data/" in n}


def _member(files: dict[str, bytes], marker: str) -> ET.Element:
    return ET.fromstring(next(data for name, data in files.items() if marker in name))


# -- red vouchers ---------------------------------------------------------------------------

@pytest.fixture
def rig(db_url, tmp_path):
    with posting_rig("generic_json", db_url, tmp_path / "store") as rig:
        yield rig


def _posted_through_the_system(rig, number: str = "24992000000000000001") -> tuple[dict, dict]:
    svc = rig.service
    inv = post_invoice(svc, synthetic_xml(number)).json
    claim = approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])
    rig.worker().run_once()
    claim = _get(svc, f"/api/v1/claims/{claim['id']}")
    return claim, _get(svc, f"/api/v1/vouchers/{claim['voucher']['id']}")


def _reversed(rig, blue: dict, date: str | None = None) -> dict:
    svc = rig.service
    svc.app.post_json(f"/api/v1/vouchers/{blue['id']}/reverse", {"reason": "发票开具有误", "date": date or blue["date"]},
                      headers=svc.headers("陈审批"), status=202)
    rig.worker().run_once()
    blue = _get(svc, f"/api/v1/vouchers/{blue['id']}")
    return _get(svc, f"/api/v1/vouchers/{blue['reversed_by_id']}")


def test_a_red_voucher_is_archived_beside_the_voucher_it_reverses(rig):
    svc = rig.service
    claim, blue = _posted_through_the_system(rig)
    red = _reversed(rig, blue)
    assert red["red_flag"] and (red["fiscal_year"], red["period"]) == (blue["fiscal_year"], blue["period"])

    run = archive_period(svc, blue["fiscal_year"], blue["period"]).json
    assert run["failed"] == []
    first, second = run["archived"]
    assert (first["voucher_id"], second["voucher_id"]) == (blue["id"], red["id"])
    assert [first["item_no"], second["item_no"]] == [1, 2]            # no gap where the red voucher is
    assert second["red_flag"] is True and second["reverses"] == {
        "voucher_id": blue["id"], "voucher_number": blue["display_number"], "fiscal_year": blue["fiscal_year"],
        "period": blue["period"], "archive_item_id": first["id"], "archival_code": first["archival_code"]}
    assert second["checks"]["registrable"] and second["checks"]["failures"] == []
    assert [m["role"] for m in second["manifest"]] == ["voucher", "claim", "metadata"]   # originals are with the blue

    # the blue item shows its reversal too, read back from the API
    blue_item = _get(svc, f"/api/v1/archive/items/{first['id']}")
    assert blue_item["reversed_by"]["voucher_id"] == red["id"]
    assert blue_item["reversed_by"]["archival_code"] == second["archival_code"]
    assert _get(svc, f"/api/v1/vouchers/{red['id']}")["archive_item_id"] == second["id"]

    # the package says so itself: the voucher XML and the metadata's 关系实体
    files = _package(svc, second)
    voucher = _member(files, "记账凭证")
    assert voucher.findtext("RED_FLAG") == "1"
    assert voucher.findtext("REVERSED_VOUCHER_NO") == blue["display_number"]
    assert voucher.findtext("REVERSAL_REASON") == "发票开具有误"
    metadata = _member(files, "metadata")
    relation = metadata.find("关系实体/关系[@类型='冲销']")
    assert relation.get("对象") == blue["display_number"] and relation.get("档号") == first["archival_code"]
    assert "voucher.reversed" in [e.get("行为") for e in metadata.iter("业务行为")]

    # the claim stays reversed: archiving the pair does not make it "archived"
    assert _get(svc, f"/api/v1/claims/{claim['id']}")["status"] == "reversed"


def test_a_red_voucher_waits_for_the_voucher_it_reverses(rig):
    svc = rig.service
    _, blue = _posted_through_the_system(rig)
    # the red voucher in another period than the blue one (the test cannot post in the past,
    # and a future date fails GD-1-5: a period of the year before stands in for "another period";
    # the fake numbers vouchers per period, the service per year)
    red = _reversed(rig, blue, f"{blue['fiscal_year'] - 1}-12-01")
    first = archive_period(svc, red["fiscal_year"], red["period"]).json
    assert first["archived"] == []
    [waiting] = first["failed"]
    assert waiting["code"] == "reversed_voucher_not_archived" and waiting["voucher_id"] == red["id"]
    assert blue["display_number"] in waiting["message"]
    assert svc.count("archive_items") == 0                           # no number taken, nothing stored

    archive_period(svc, blue["fiscal_year"], blue["period"])
    second = archive_period(svc, red["fiscal_year"], red["period"]).json
    [item] = second["archived"]
    assert item["voucher_id"] == red["id"] and item["item_no"] == 1
    assert item["reverses"]["archival_code"].endswith(f"-{blue['period']:04d}-0001")


def test_a_period_with_a_posting_on_its_way_is_refused_until_explained(rig):
    svc = rig.service
    _, blue = _posted_through_the_system(rig)
    inv = post_invoice(svc, synthetic_xml("24992000000000000002")).json
    queued = approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])    # not sent yet
    ref = queued["posting"]["external_ref"]

    err = archive_period(svc, blue["fiscal_year"], blue["period"], status=409).json["error"]
    assert err["code"] == "archive_period_unsettled" and queued["number"] in err["message"]
    [unsettled] = err["detail"]["unsettled"]
    assert unsettled == {**unsettled, "kind": "posting_queued", "reference": ref, "claim_number": queued["number"]}
    assert svc.count("archive_items") == 0

    explained = svc.app.post_json("/api/v1/archive/runs", {
        "fiscal_year": blue["fiscal_year"], "period": blue["period"],
        "explanations": {ref: "记账系统维护，该报销单确认于下月入账"}}, headers=svc.headers(ARCHIVIST)).json
    assert [i["voucher_id"] for i in explained["archived"]] == [blue["id"]]
    assert explained["explained"][0]["reference"] == ref
    events = _get(svc, "/api/v1/audit/events?object_type=period")["items"]
    assert [(e["action"], e["detail"]["reference"]) for e in events] == [("archive.unsettled_explained", ref)]

    # an empty explanation explains nothing
    svc.app.post_json("/api/v1/archive/runs", {"fiscal_year": blue["fiscal_year"], "period": blue["period"],
                                               "explanations": {ref: " "}},
                      headers=svc.headers(ARCHIVIST), status=422)


def test_a_reversal_on_its_way_keeps_its_period_open(rig):
    svc = rig.service
    _, blue = _posted_through_the_system(rig)
    svc.app.post_json(f"/api/v1/vouchers/{blue['id']}/reverse", {"reason": "重复报销", "date": blue["date"]},
                      headers=svc.headers("陈审批"), status=202)
    err = archive_period(svc, blue["fiscal_year"], blue["period"], status=409).json["error"]
    [unsettled] = err["detail"]["unsettled"]
    assert unsettled["kind"] == "reversal_queued" and unsettled["voucher_number"] == blue["display_number"]
    rig.worker().run_once()                                             # the red voucher is recorded
    run = archive_period(svc, blue["fiscal_year"], blue["period"]).json
    assert len(run["archived"]) == 2 and run["failed"] == []


# -- a check not performed, and the archivist's waiver -------------------------------------------

@pytest.fixture
def no_scanner(db_url, tmp_path):
    """The virus scanner named by the settings cannot run: GD-4-1/4-2 are not performed."""
    svc = make_service(db_url, tmp_path / "store", **unavailable_scanner_settings())
    yield svc
    svc.engine.dispose()


def _posted(svc, number: str, voucher_no: str) -> dict:
    inv = post_invoice(svc, synthetic_xml(number)).json
    claim = approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])
    return post_voucher(svc, voucher_report(claim, number=voucher_no)).json


def _waive(svc, voucher_id: int, checks=("GD-4-1", "GD-4-2"), reason="ClamAV 病毒库升级中，经档案科长批准先行归档",
           who: str = ARCHIVIST, status: int | str = 201):
    return svc.app.post_json("/api/v1/archive/waivers", {"voucher_id": voucher_id, "checks": list(checks),
                                                         "reason": reason},
                             headers=svc.headers(who), status=status)


def test_a_check_not_performed_blocks_the_item_until_an_archivist_waives_it(no_scanner):
    svc = no_scanner
    voucher = _posted(svc, "24992000000000000001", "0001")
    run = svc.app.post_json("/api/v1/archive/runs", {"fiscal_year": 2024, "period": 7},
                            headers=svc.headers(ARCHIVIST)).json
    assert run["archived"] == []
    [blocked] = run["failed"]
    assert blocked["code"] == "four_property_check_not_performed" and blocked["voucher_id"] == voucher["id"]
    assert blocked["not_performed"] == ["GD-4-1", "GD-4-2"] and "GD-4-1" in blocked["message"]
    assert {c["code"] for c in blocked["checks"]} == {"GD-4-1", "GD-4-2"}
    assert svc.count("archive_items") == 0 and not [p for p in svc.stored_files() if "packages" in p.parts]

    # only an archivist waives; the check must be one of ours; a reason is required
    _waive(svc, voucher["id"], who="王审计", status=403)
    _waive(svc, voucher["id"], who="张经办", status=403)
    err = _waive(svc, voucher["id"], checks=["GD-3-7"], status=422).json["error"]    # no such check here
    assert err["code"] == "waiver_check_unknown" and "GD-4-1" in err["detail"]["checks"]
    assert _waive(svc, voucher["id"], checks=["GD-9-9"], status=400).json["error"]["code"] == "validation_failed"
    assert _waive(svc, voucher["id"], reason="   ", status=422).json["error"]["code"] == "waiver_reason_required"
    assert svc.count("archive_check_waivers") == 0

    recorded = _waive(svc, voucher["id"]).json
    assert [(w["check"], w["waived_by"]) for w in recorded["items"]] == [("GD-4-1", ARCHIVIST), ("GD-4-2", ARCHIVIST)]
    again = _waive(svc, voucher["id"], checks=["GD-4-2"], status=409).json["error"]
    assert again["code"] == "waiver_already_recorded" and ARCHIVIST in again["message"]

    run = svc.app.post_json("/api/v1/archive/runs", {"fiscal_year": 2024, "period": 7},
                            headers=svc.headers(ARCHIVIST)).json
    [item] = run["archived"]
    assert item["archival_code"].endswith("-0007-0001")                # the blocked run took no number
    report = item["checks"]
    assert report["registrable"] and report["complete"] is False and report["blocking"] == []
    waived = {w["code"]: w for w in report["waivers"]}
    assert set(waived) == {"GD-4-1", "GD-4-2"}
    assert waived["GD-4-1"]["waived_by"] == ARCHIVIST and "病毒库升级" in waived["GD-4-1"]["reason"]
    assert waived["GD-4-1"]["waived_at"] == recorded["items"][0]["waived_at"]
    gd41 = next(c for c in report["checks"] if c["code"] == "GD-4-1")
    assert gd41["result"] == "not_performed" and gd41["waiver"]["reason"] == waived["GD-4-1"]["reason"]

    events = _get(svc, f"/api/v1/audit/events?object_type=voucher&object_id={voucher['id']}")["items"]
    logged = [e["detail"] for e in events if e["action"] == "archive.check_waived"]
    assert [(d["check"], d["waived_by"]) for d in logged] == [("GD-4-1", ARCHIVIST), ("GD-4-2", ARCHIVIST)]
    archived = [e for e in _get(svc, "/api/v1/audit/events?object_type=archive_item")["items"]
                if e["action"] == "archive.archived"]
    assert [w["code"] for w in archived[0]["detail"]["waivers"]] == ["GD-4-1", "GD-4-2"]

    listed = _get(svc, f"/api/v1/archive/waivers?voucher_id={voucher['id']}")
    assert listed["total"] == 2 and listed["items"][0]["voucher_number"] == "记-0001"
    # the waiver is the item's: a re-check without a scanner still registers it as archived
    recheck = svc.app.post_json(f"/api/v1/archive/items/{item['id']}/check", {},
                                headers=svc.headers(ARCHIVIST)).json
    assert recheck["registrable"] and [w["code"] for w in recheck["waivers"]] == ["GD-4-1", "GD-4-2"]
    # and once archived, nothing is left to waive
    assert _waive(svc, voucher["id"], checks=["GD-4-3"], status=409).json["error"]["code"] == "already_archived"


def test_a_waiver_for_one_voucher_does_not_release_another(no_scanner):
    svc = no_scanner
    first = _posted(svc, "24992000000000000001", "0001")
    second = _posted(svc, "24992000000000000002", "0002")
    _waive(svc, first["id"])
    run = svc.app.post_json("/api/v1/archive/runs", {"fiscal_year": 2024, "period": 7},
                            headers=svc.headers(ARCHIVIST)).json
    assert [i["voucher_id"] for i in run["archived"]] == [first["id"]]
    assert [(f["voucher_id"], f["code"]) for f in run["failed"]] == [(second["id"], "four_property_check_not_performed")]
    _waive(svc, second["id"], checks=["GD-4-1"])                      # one of the two is not enough
    run = svc.app.post_json("/api/v1/archive/runs", {"fiscal_year": 2024, "period": 7},
                            headers=svc.headers(ARCHIVIST)).json
    assert run["archived"] == [] and run["failed"][0]["not_performed"] == ["GD-4-2"]


def test_waivers_are_never_changed_or_deleted(no_scanner):
    svc = no_scanner
    voucher = _posted(svc, "24992000000000000001", "0001")
    _waive(svc, voucher["id"])
    for sql in ("UPDATE archive_check_waivers SET reason = 'x'", "DELETE FROM archive_check_waivers"):
        with pytest.raises(DatabaseError):
            with svc.engine.begin() as conn:
                conn.execute(text(sql))
    assert svc.count("archive_check_waivers") == 2


def test_a_waiver_for_a_voucher_of_another_organisation_is_not_found(no_scanner):
    svc = no_scanner
    voucher = _posted(svc, "24992000000000000001", "0001")
    svc.add_org("另一家公司", "91110000MA00000001", "Z002")
    svc.add_person("外单位档案员", "archivist", "91110000MA00000001")
    err = _waive(svc, voucher["id"], who="外单位档案员", status=404).json["error"]
    assert err["code"] == "voucher_not_found"


# -- GD-1-8: the voucher number, not only the 档号 --------------------------------------------------

def test_the_duplicate_check_covers_the_voucher_number(service):
    _posted(service, "24992000000000000001", "0001")
    item = archive_period(service).json["archived"][0]
    gd18 = next(c for c in item["checks"]["checks"] if c["code"] == "GD-1-8")
    assert gd18["result"] == "pass" and "凭证号 记-0001 未重复" in gd18["detail"] and "档号" in gd18["detail"]


def test_a_title_typed_over_two_lines_is_one_line_in_the_metadata(service):
    """Line breaks in a claim's title are layout: the item's 题名 is one line (GD-1-6
    refuses line breaks in one-line values), and the claim's own record keeps them."""
    inv = post_invoice(service, synthetic_xml("24992000000000000001")).json
    claim = approve_claim(service, create_claim(service, [inv["id"]], title="7月北京出差\n差旅费").json["id"])
    post_voucher(service, voucher_report(claim, number="0001"))
    [item] = archive_period(service).json["archived"]
    assert next(c for c in item["checks"]["checks"] if c["code"] == "GD-1-6")["result"] == "pass"
    files = _package(service, item)
    assert _member(files, "metadata").findtext("题名") == "7月北京出差 差旅费（记-0001）"
    assert _member(files, "报销单").findtext("题名") == "7月北京出差\n差旅费"


def test_the_command_line_refuses_an_unsettled_period_and_takes_explanations(rig, monkeypatch, capsys):
    from invoice_archive.cli import main
    from tests.support.journey import prepare_archiving
    from tests.support.process import INI, environment

    svc = rig.service
    _, blue = _posted_through_the_system(rig)
    inv = post_invoice(svc, synthetic_xml("24992000000000000002")).json
    ref = approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])["posting"]["external_ref"]
    prepare_archiving(svc, blue["fiscal_year"], blue["period"])
    for name in ("DATABASE_URL", "ARCHIVE_STORE_URL", "CLAMAV_DATABASE"):
        value = environment(svc.db_url, svc.store_dir).get(name)
        if value:
            monkeypatch.setenv(name, value)
    args = ["-c", str(INI), "archive-run", "--org", "Z001", "--year", str(blue["fiscal_year"]),
            "--period", str(blue["period"]), "--by", ARCHIVIST]
    capsys.readouterr()
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "archive_period_unsettled" in out and ref in out
    assert svc.count("archive_items") == 0
    assert main([*args, "--explain", f"{ref}=记账系统维护，下月入账"]) == 0
    out = capsys.readouterr().out
    assert "归档 1 件" in out and f"已说明：{ref}：记账系统维护，下月入账" in out
