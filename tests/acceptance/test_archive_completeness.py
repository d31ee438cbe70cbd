"""features/archive/completeness.feature: red vouchers archived beside their blue ones,
a period held by a posting on its way, and an item held by a virus check that could
not be performed until an archivist waives it. Over the HTTP API only."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.support.clamav import unavailable_scanner_settings
from tests.support.invoices import synthetic_xml
from tests.support.journey import approve_claim, create_claim, post_invoice, post_voucher, voucher_report
from tests.support.posting import posting_rig

scenarios("archive/completeness.feature")


@pytest.fixture
def service_overrides(request) -> dict[str, str]:
    """The scanner the settings name cannot run, whether or not ClamAV is on this
    machine (archive.clamav_executable names one that does not exist)."""
    if "病毒检测无法执行" in request.node.name:
        return unavailable_scanner_settings()
    return {}


@pytest.fixture
def rigs():
    """Started on demand by the first step, closed after the scenario."""
    opened = []
    yield opened
    for cm in opened:
        cm.__exit__(None, None, None)


def _get(svc, path: str) -> dict:
    return svc.app.get(path, headers=svc.headers("王审计")).json


def _run(svc, year: int, period: int, who: str, *, status: int | str = 201, **extra):
    return svc.app.post_json("/api/v1/archive/runs", {"fiscal_year": year, "period": period, **extra},
                             headers=svc.headers(who), status=status)


# -- a red voucher ---------------------------------------------------------------------------

@given("单位使用记账系统入账，一张报销单的凭证已入账")
def posted_through_the_system(rigs, db_url, tmp_path, ctx) -> None:
    cm = posting_rig("u8", db_url, tmp_path / "store")
    rig = cm.__enter__()
    rigs.append(cm)
    svc = ctx["svc"] = rig.service
    ctx["rig"] = rig
    inv = post_invoice(svc, synthetic_xml("24992000000000000001")).json
    claim = approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])
    rig.worker().run_once()
    voucher_id = _get(svc, f"/api/v1/claims/{claim['id']}")["voucher"]["id"]
    ctx["blue"] = _get(svc, f"/api/v1/vouchers/{voucher_id}")


@given(parsers.parse('会计"{who}"以"{reason}"为由冲销该凭证，记账系统生成了红字冲销凭证'))
def reversed_by_the_system(ctx, who: str, reason: str) -> None:
    svc, blue = ctx["svc"], ctx["blue"]
    svc.app.post_json(f"/api/v1/vouchers/{blue['id']}/reverse", {"reason": reason, "date": blue["date"]},
                      headers=svc.headers(who), status=202)
    ctx["rig"].worker().run_once()
    red_id = _get(svc, f"/api/v1/vouchers/{blue['id']}")["reversed_by_id"]
    ctx["red"] = _get(svc, f"/api/v1/vouchers/{red_id}")
    ctx["reason"] = reason
    assert ctx["red"]["red_flag"] and ctx["red"]["period"] == blue["period"]


@when(parsers.parse('档案员"{who}"归档该凭证所在的会计月份'))
def archive_the_vouchers_month(ctx, who: str) -> None:
    blue = ctx["blue"]
    ctx["response"] = _run(ctx["svc"], blue["fiscal_year"], blue["period"], who, status="*")
    if ctx["response"].status_int == 201:
        ctx["run"] = ctx["response"].json


@then("生成两件档案，件号连续，红字冲销凭证排在原凭证之后")
def two_items_blue_first(ctx) -> None:
    assert ctx["run"]["failed"] == []
    blue_item, red_item = ctx["run"]["archived"]
    assert (blue_item["voucher_id"], red_item["voucher_id"]) == (ctx["blue"]["id"], ctx["red"]["id"])
    assert (blue_item["item_no"], red_item["item_no"]) == (1, 2)
    assert red_item["red_flag"] is True and blue_item["red_flag"] is False
    ctx["blue_item"], ctx["red_item"] = blue_item, red_item


@then("红字冲销凭证的档案指向原凭证的档号，原凭证的档案指向冲销它的档案")
def linked_both_ways(ctx) -> None:
    svc = ctx["svc"]
    red_item = _get(svc, f"/api/v1/archive/items/{ctx['red_item']['id']}")
    blue_item = _get(svc, f"/api/v1/archive/items/{ctx['blue_item']['id']}")
    assert red_item["reverses"]["voucher_id"] == ctx["blue"]["id"]
    assert red_item["reverses"]["archival_code"] == blue_item["archival_code"]
    assert blue_item["reversed_by"]["voucher_id"] == ctx["red"]["id"]
    assert blue_item["reversed_by"]["archival_code"] == red_item["archival_code"]


@then("红字冲销凭证的归档包中记有冲销关系、原凭证的档号和冲销理由")
def the_package_says_so(ctx) -> None:
    svc = ctx["svc"]
    body = svc.app.get(f"/api/v1/archive/items/{ctx['red_item']['id']}/bundle", headers=svc.headers("王审计")).body
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        files = {n.rsplit("/", 1)[-1]: zf.read(n) for n in zf.namelist()}
    metadata = ET.fromstring(next(d for n, d in files.items() if n.endswith("-metadata.xml")))
    relation = metadata.find("关系实体/关系[@类型='冲销']")
    assert relation is not None and relation.get("档号") == ctx["blue_item"]["archival_code"]
    assert relation.get("对象") == ctx["blue"]["display_number"]
    voucher = ET.fromstring(next(d for n, d in files.items() if "记账凭证" in n))
    assert voucher.findtext("RED_FLAG") == "1" and voucher.findtext("REVERSAL_REASON") == ctx["reason"]
    assert voucher.findtext("REVERSED_VOUCHER_NO") == ctx["blue"]["display_number"]


# -- a period with a posting on its way -------------------------------------------------------

@given("另一张报销单已审批，正等待记账系统入账")
def another_claim_queued(ctx) -> None:
    svc = ctx["svc"]
    inv = post_invoice(svc, synthetic_xml("24992000000000000002")).json
    ctx["queued"] = approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])
    assert ctx["queued"]["status"] == "posting"


@then("拒绝信息列出等待入账的报销单及其外部参考号")
def refusal_names_it(ctx) -> None:
    error = ctx["response"].json["error"]
    [unsettled] = error["detail"]["unsettled"]
    assert unsettled["claim_number"] == ctx["queued"]["number"]
    assert unsettled["reference"] == ctx["queued"]["posting"]["external_ref"]
    assert ctx["queued"]["number"] in error["message"]
    assert ctx["svc"].count("archive_items") == 0


@when(parsers.parse('档案员"{who}"说明"{why}"后再次归档该月份'))
def explained_and_archived(ctx, who: str, why: str) -> None:
    blue = ctx["blue"]
    ctx["why"] = why
    ctx["run"] = _run(ctx["svc"], blue["fiscal_year"], blue["period"], who,
                      explanations={ctx["queued"]["posting"]["external_ref"]: why}).json


@then("已入账的凭证归档，说明记入审计日志")
def archived_and_logged(ctx) -> None:
    assert [i["voucher_id"] for i in ctx["run"]["archived"]] == [ctx["blue"]["id"]]
    events = _get(ctx["svc"], "/api/v1/audit/events?object_type=period")["items"]
    assert [(e["action"], e["detail"]["explanation"]) for e in events] == [("archive.unsettled_explained", ctx["why"])]


# -- a virus check that could not be performed, and the waiver ---------------------------------

@given("归档时病毒扫描程序不可用")
def scanner_unavailable(service, ctx) -> None:
    ctx["svc"] = service
    assert service.app_settings.archive.clamav.executable == unavailable_scanner_settings()["archive.clamav_executable"]


@given("2024年7月已有一张记账凭证入账")
def one_voucher(ctx) -> None:
    svc = ctx["svc"]
    inv = post_invoice(svc, synthetic_xml("24992000000000000001")).json
    claim = approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])
    ctx["voucher"] = post_voucher(svc, voucher_report(claim, number="0001")).json


@when(parsers.parse('档案员"{who}"归档2024年7月'))
@when(parsers.parse('档案员"{who}"再次归档2024年7月'))
def archive_july(ctx, who: str) -> None:
    ctx["run"] = _run(ctx["svc"], 2024, 7, who).json


@then(parsers.parse('该凭证未归档，返回代码"{code}"和未执行的检测项"{first}"、"{second}"'))
def blocked(ctx, code: str, first: str, second: str) -> None:
    assert ctx["run"]["archived"] == []
    [failure] = ctx["run"]["failed"]
    assert failure["code"] == code and failure["voucher_id"] == ctx["voucher"]["id"]
    assert failure["not_performed"] == [first, second]
    assert first in failure["message"] and "豁免" in failure["message"]


@then("没有登记档案，也没有写入归档包")
def nothing_registered(ctx) -> None:
    svc = ctx["svc"]
    assert svc.count("archive_items") == 0
    assert [p for p in svc.stored_files() if "packages" in p.parts] == []


@when(parsers.parse('档案员"{who}"以"{reason}"为由豁免该凭证的检测项"{first}"和"{second}"'))
def waive(ctx, who: str, reason: str, first: str, second: str) -> None:
    svc = ctx["svc"]
    ctx["waived"] = svc.app.post_json("/api/v1/archive/waivers", {
        "voucher_id": ctx["voucher"]["id"], "checks": [first, second], "reason": reason},
        headers=svc.headers(who), status=201).json
    ctx["reason"] = reason


@then(parsers.parse('该凭证归档，件号为"{number}"'))
def archived(ctx, number: str) -> None:
    [item] = ctx["run"]["archived"]
    assert item["voucher_id"] == ctx["voucher"]["id"] and item["archival_code"].endswith(f"-{number}")
    assert ctx["run"]["failed"] == []
    ctx["item"] = _get(ctx["svc"], f"/api/v1/archive/items/{item['id']}")


@then(parsers.parse('四性检测报告中两项检测记为未执行，并记录豁免人"{who}"、豁免时间和理由'))
def waivers_in_the_report(ctx, who: str) -> None:
    report = ctx["item"]["checks"]
    assert report["registrable"] is True and report["complete"] is False
    by_code = {c["code"]: c for c in report["checks"]}
    recorded = {w["check"]: w for w in ctx["waived"]["items"]}
    for code in ("GD-4-1", "GD-4-2"):
        assert by_code[code]["result"] == "not_performed"
        waiver = by_code[code]["waiver"]
        assert waiver["waived_by"] == who and waiver["reason"] == ctx["reason"]
        assert waiver["waived_at"] == recorded[code]["waived_at"]


@then("审计日志记录了这两项豁免")
def waivers_in_the_audit_log(ctx) -> None:
    events = _get(ctx["svc"], f"/api/v1/audit/events?object_type=voucher&object_id={ctx['voucher']['id']}")
    waived = [e for e in events["items"] if e["action"] == "archive.check_waived"]
    assert sorted(e["detail"]["check"] for e in waived) == ["GD-4-1", "GD-4-2"]
    assert all(e["actor"] == "赵档案" and e["detail"]["reason"] == ctx["reason"] for e in waived)
