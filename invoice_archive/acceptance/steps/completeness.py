"""features/archive/completeness.feature: red vouchers archived beside their blue ones, a
period held by a posting on its way until the archivist explains it, and an item held by
a virus check that could not be performed until the archivist waives it."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
from typing import Any, Callable

from pytest_bdd import given, parsers, then, when

from invoice_archive.acceptance import harness as needs
from invoice_archive.acceptance.steps.archive import VIRUS_CHECKS, run_archive, volume_items
from invoice_archive.acceptance.steps.common import Api, refusal


@given("一张报销单的凭证已由记账系统入账")
def posted_through_the_system(api: Api, harness: Any, ctx: dict, evidence: Callable) -> None:
    inv = api.received(harness.factory.xml(ctx["buyer"]))
    claim = api.approve(api.create_claim([inv["id"]]).json["id"])
    harness.settle(lambda: api.claim(claim["id"])["voucher"] is not None, "入账程序将凭证送入记账系统")
    now = api.claim(claim["id"])
    assert now["voucher"], f"报销单 {now['number']} 未入账：{now['posting']}"
    ctx["blue"] = api.voucher(now["voucher"]["id"])
    ctx.setdefault("vouchers", []).append(ctx["blue"])
    evidence("记账凭证", f"{ctx['blue']['display_number']}（{ctx['blue']['source_system']}）")


@given(parsers.re(r'会计"(?P<who>[^"]+)"以"(?P<reason>[^"]+)"为由冲销该凭证，记账系统生成了红字冲销凭证'))
def reversed_by_the_system(api: Api, harness: Any, ctx: dict, who: str, reason: str, evidence: Callable) -> None:
    blue = ctx["blue"]
    api.post(f"/api/v1/vouchers/{blue['id']}/reverse", who, {"reason": reason, "date": blue["date"]}, expect=202)
    harness.settle(lambda: api.voucher(blue["id"])["reversed_by_id"] is not None, "入账程序送出冲销")
    red_id = api.voucher(blue["id"])["reversed_by_id"]
    assert red_id, f"凭证 {blue['display_number']} 没有红字冲销凭证"
    ctx["red"] = red = api.voucher(red_id)
    ctx["reason"] = reason
    assert red["red_flag"] and red["period"] == blue["period"], (red["red_flag"], red["period"])
    ctx["vouchers"].append(red)
    evidence("红字冲销凭证", red["display_number"])


@when(parsers.re(r'档案员"(?P<who>[^"]+)"归档该凭证所在的会计月份'))
def archive_the_vouchers_month(api: Api, harness: Any, ctx: dict, who: str, evidence: Callable) -> None:
    blue = ctx["blue"]
    # a posting still on its way is this scenario's point when it queued one: no waiting for it then
    ctx["response"] = resp = run_archive(api, harness, ctx, who, blue["fiscal_year"], blue["period"], evidence,
                                         settle_unsettled="queued" not in ctx)
    if resp.status == 201:
        ctx["run"] = resp.json


def _mine(ctx: dict, voucher: dict[str, Any]) -> dict[str, Any]:
    found = [i for i in ctx["run"]["archived"] if i["voucher_id"] == voucher["id"]]
    assert found, f"凭证 {voucher['display_number']} 未归档：{[f for f in ctx['run']['failed']]}"
    return found[0]


@then("生成两件档案，件号相连，红字冲销凭证排在原凭证之后")
def two_items_blue_first(ctx: dict, evidence: Callable) -> None:
    blue_item, red_item = _mine(ctx, ctx["blue"]), _mine(ctx, ctx["red"])
    assert red_item["item_no"] == blue_item["item_no"] + 1, (blue_item["archival_code"], red_item["archival_code"])
    assert red_item["red_flag"] is True and blue_item["red_flag"] is False
    ctx["blue_item"], ctx["red_item"] = blue_item, red_item
    evidence("档号", f"{blue_item['archival_code']}（原凭证）、{red_item['archival_code']}（红字冲销凭证）")


@then("红字冲销凭证的档案指向原凭证的档号，原凭证的档案指向冲销它的档案")
def linked_both_ways(api: Api, ctx: dict) -> None:
    red_item = api.get(f"/api/v1/archive/items/{ctx['red_item']['id']}", "王审计", expect=200).json
    blue_item = api.get(f"/api/v1/archive/items/{ctx['blue_item']['id']}", "王审计", expect=200).json
    assert red_item["reverses"]["voucher_id"] == ctx["blue"]["id"]
    assert red_item["reverses"]["archival_code"] == blue_item["archival_code"]
    assert blue_item["reversed_by"]["voucher_id"] == ctx["red"]["id"]
    assert blue_item["reversed_by"]["archival_code"] == red_item["archival_code"]


@then("红字冲销凭证的归档包中记有冲销关系、原凭证的档号和冲销理由")
def the_package_says_so(api: Api, ctx: dict, evidence: Callable) -> None:
    body = api.get(f"/api/v1/archive/items/{ctx['red_item']['id']}/package", "王审计", expect=200).body
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        files = {n.rsplit("/", 1)[-1]: zf.read(n) for n in zf.namelist()}
    metadata = ET.fromstring(next(d for n, d in files.items() if n.endswith("-metadata.xml")))
    relation = metadata.find("关系实体/关系[@类型='冲销']")
    assert relation is not None and relation.get("档号") == ctx["blue_item"]["archival_code"]
    assert relation.get("对象") == ctx["blue"]["display_number"]
    voucher = ET.fromstring(next(d for n, d in files.items() if "记账凭证" in n))
    assert voucher.findtext("RED_FLAG") == "1" and voucher.findtext("REVERSAL_REASON") == ctx["reason"]
    assert voucher.findtext("REVERSED_VOUCHER_NO") == ctx["blue"]["display_number"]
    evidence("冲销关系", f"{relation.get('对象')}（{relation.get('档号')}）：{ctx['reason']}")


# -- a period with a posting on its way -------------------------------------------------------

@given("另一张报销单已审批，正等待记账系统入账")
def another_claim_queued(api: Api, harness: Any, ctx: dict, evidence: Callable) -> None:
    inv = api.received(harness.factory.xml(ctx["buyer"]))
    ctx["queued"] = queued = api.approve(api.create_claim([inv["id"]]).json["id"])
    assert queued["status"] == "posting", queued["status"]
    evidence("等待入账", f"{queued['number']}（{queued['posting']['external_ref']}）")


@then("拒绝信息列出等待入账的报销单及其外部参考号")
def refusal_names_it(api: Api, ctx: dict) -> None:
    error = refusal(ctx["response"])
    listed = {u["claim_number"]: u for u in error["detail"]["unsettled"]}
    queued = ctx["queued"]
    assert queued["number"] in listed, error["detail"]
    assert listed[queued["number"]]["reference"] == queued["posting"]["external_ref"]
    assert queued["number"] in error["message"]
    assert api.voucher(ctx["blue"]["id"])["archive_item_id"] is None


@when(parsers.re(r'档案员"(?P<who>[^"]+)"说明"(?P<why>[^"]+)"后再次归档该月份'))
def explained_and_archived(api: Api, harness: Any, ctx: dict, who: str, why: str, evidence: Callable) -> None:
    blue = ctx["blue"]
    ctx["why"] = why
    resp = run_archive(api, harness, ctx, who, blue["fiscal_year"], blue["period"], evidence,
                       explanations={ctx["queued"]["posting"]["external_ref"]: why})
    assert resp.status == 201, resp.text[:500]
    ctx["run"] = resp.json


@then("已入账的凭证归档，说明记入审计日志")
def archived_and_logged(api: Api, ctx: dict, evidence: Callable) -> None:
    item = _mine(ctx, ctx["blue"])
    explained = [e for e in api.events(object_type="period") if e["action"] == "archive.unsettled_explained"
                 and e["detail"].get("explanation") == ctx["why"]]
    assert explained, "审计日志中没有这条说明"
    evidence("归档", item["archival_code"])
    evidence("审计日志", f"{explained[-1]['at']} {explained[-1]['actor']}：{ctx['why']}")


# -- a virus check that could not be performed, and the waiver ---------------------------------

@given("部署的病毒检测无法执行")
def scanner_unavailable(harness: Any) -> None:
    harness.require(needs.no_virus_scanner())


@then(parsers.re(r'该凭证未归档，返回代码"(?P<code>[^"]+)"和未执行的检测项"(?P<first>[^"]+)"、"(?P<second>[^"]+)"'))
def blocked(ctx: dict, code: str, first: str, second: str, evidence: Callable) -> None:
    [voucher] = ctx["vouchers"]
    assert not ctx["items"], ctx["items"]
    [failure] = [f for f in ctx["run"]["failed"] if f.get("voucher_id") == voucher["id"]]
    assert failure["code"] == code, failure
    assert failure["not_performed"] == [first, second], failure
    assert first in failure["message"] and "豁免" in failure["message"], failure["message"]
    ctx["voucher"] = voucher
    ctx["numbers_before"] = [i["item_no"] for i in ctx["run"]["archived"]]
    evidence("未归档", failure["message"])


@then("该凭证没有登记为档案")
def nothing_registered(api: Api, ctx: dict) -> None:
    assert api.voucher(ctx["voucher"]["id"])["archive_item_id"] is None


@when(parsers.re(r'档案员"(?P<who>[^"]+)"以"(?P<reason>[^"]+)"为由豁免该凭证的检测项"(?P<first>[^"]+)"和"(?P<second>[^"]+)"'))
def waive(api: Api, ctx: dict, who: str, reason: str, first: str, second: str, evidence: Callable) -> None:
    ctx["waived_checks"] = api.post("/api/v1/archive/waivers", who, {
        "voucher_id": ctx["voucher"]["id"], "checks": [first, second], "reason": reason}, expect=201).json
    ctx["reason"] = reason
    evidence("豁免", f"{first}、{second}：{reason}")


@when(parsers.re(r'档案员"(?P<who>[^"]+)"再次归档本期'))
def archive_again(api: Api, harness: Any, ctx: dict, who: str, evidence: Callable) -> None:
    ctx["before"] = [i["item_no"] for i in volume_items(api, harness) if i["voucher_id"] != ctx["voucher"]["id"]]
    f = harness.factory
    resp = run_archive(api, harness, ctx, who, f.fiscal_year, f.period, evidence)
    assert resp.status == 201, resp.text[:500]
    ctx["run"] = resp.json


@then("该凭证归档，件号紧接本期已有的档案")
def archived(api: Api, ctx: dict, evidence: Callable) -> None:
    item = _mine(ctx, ctx["voucher"])
    earlier = [n for n in ctx["before"] if n < item["item_no"]]
    assert item["item_no"] == max(earlier, default=0) + 1, (item["archival_code"], ctx["before"])
    ctx["item"] = api.get(f"/api/v1/archive/items/{item['id']}", "王审计", expect=200).json
    evidence("档号", item["archival_code"])


@then(parsers.re(r'四性检测报告中两项检测记为未执行，并记录豁免人"(?P<who>[^"]+)"、豁免时间和理由'))
def waivers_in_the_report(api: Api, ctx: dict, who: str) -> None:
    report = ctx["item"]["checks"]
    assert report["registrable"] is True and report["complete"] is False, report
    by_code = {c["code"]: c for c in report["checks"]}
    recorded = {w["check"]: w for w in ctx["waived_checks"]["items"]}
    for code in VIRUS_CHECKS:
        assert by_code[code]["result"] == "not_performed"
        waiver = by_code[code]["waiver"]
        assert waiver["waived_by"] == api.name(who) and waiver["reason"] == ctx["reason"], waiver
        assert waiver["waived_at"] == recorded[code]["waived_at"]


@then("审计日志记录了这两项豁免")
def waivers_in_the_audit_log(api: Api, ctx: dict) -> None:
    events = api.events(object_type="voucher", object_id=str(ctx["voucher"]["id"]))
    waived = [e for e in events if e["action"] == "archive.check_waived"]
    assert sorted(e["detail"]["check"] for e in waived) == sorted(VIRUS_CHECKS), waived
    assert all(e["actor"] == api.name("赵档案") and e["detail"]["reason"] == ctx["reason"] for e in waived)

