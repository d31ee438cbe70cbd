"""features/archive/disposition.feature: appraisal (鉴定意见书), holds for unsettled matters,
destruction (销毁清册, two approvals, 监销, tombstones), through the HTTP API only."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

from pytest_bdd import given, parsers, scenarios, then, when

from tests.support.records import (
    SUPERVISORS, add_people, appraise, approve, archive_records, execute, hold, propose, receive_statement,
)

scenarios("archive/disposition.feature")


def _files(service, item_id: int) -> dict[str, bytes]:
    body = service.app.get(f"/api/v1/archive/items/{item_id}/package", headers=service.headers("王审计")).body
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        return {n.split("/", 1)[1]: zf.read(n) for n in zf.namelist()}


def _record(service, item_id: int) -> ET.Element:
    files = _files(service, item_id)
    [name] = [n for n in files if n.startswith("data/") and "-01-" in n]
    return ET.fromstring(files[name])


@given(parsers.parse('2014年3月的两份银行对账单已归档，保管期限至"{until}"'))
def statements(service, ctx, until: str) -> None:
    add_people(service)
    receive_statement(service, year=2014, month=3)
    receive_statement(service, year=2014, month=3, account="6216600000000000009")
    ctx["items"] = archive_records(service, 2014, 3, sources=["intake"]).json["archived"]
    assert [i["retention_until"] for i in ctx["items"]] == [until, until]


@given(parsers.parse('会计"{who}"以"{reason}"为由将其中一份登记为暂缓销毁'))
def held(service, ctx, who: str, reason: str) -> None:
    ctx["held"] = ctx["items"][1]
    assert hold(service, ctx["held"]["id"], reason, who=who).json["matter_name"] == "未结清的债权债务"


@when(parsers.parse('档案员"{who}"会同会计管理机构鉴定保管期满的会计档案'))
def appraisal(service, ctx, who: str) -> None:
    ctx["appraisal"] = appraise(service, who=who).json


@then(parsers.parse('鉴定意见书作为其他会计资料永久归档，一份鉴定为"{a}"，一份为"{b}"'))
def opinion(service, ctx, a: str, b: str) -> None:
    item = ctx["appraisal"]["opinion_item"]
    assert item["retention"] == "Y" and "-QT·" in item["archival_code"]
    root = _record(service, item["id"])
    assert root.tag == "会计档案鉴定意见书"
    conclusions = {el.get("档号"): el.get("鉴定结论") for el in root.find("鉴定结果")}
    assert sorted(conclusions.values()) == sorted([a, b]) and conclusions[ctx["held"]["archival_code"]] == b


@when(parsers.parse('档案员"{who}"编制销毁清册'))
def propose_list(service, ctx, who: str) -> None:
    ctx["destruction"] = propose(service, ctx["appraisal"]["id"], who=who).json


@when(parsers.re(r'"(?P<a>[^"]+)"以"(?P<ca>[^"]+)"身份、"(?P<b>[^"]+)"以"(?P<cb>[^"]+)"身份签署同意'))
def two_approve(service, ctx, a: str, ca: str, b: str, cb: str) -> None:
    approve(service, ctx["destruction"]["id"], a, ca)
    assert approve(service, ctx["destruction"]["id"], b, cb).json["status"] == "approved"


@when(parsers.re(r'^"(?P<who>[^"]+)"以"(?P<capacity>[^"]+)"身份签署同意$'))
def one_approves(service, ctx, who: str, capacity: str) -> None:
    ctx["approver"] = who
    assert approve(service, ctx["destruction"]["id"], who, capacity).json["status"] == "proposed"


@when(parsers.parse('档案、会计、信息系统三个机构的监销人清点{n:d}件后，档案员"{who}"执行销毁'))
def destroy(service, ctx, n: int, who: str) -> None:
    assert execute(service, ctx["destruction"]["id"], n, who=who).json["status"] == "executing"
    ctx["done"] = service.app.get(f"/api/v1/archive/destructions/{ctx['destruction']['id']}",
                                  headers=service.headers("王审计")).json
    assert ctx["done"]["status"] == "destroyed"


@then("销毁清册列明应保管期限、已保管期限和销毁时间，有两人的签署意见和三名监销人，并永久归档")
def destruction_list(service, ctx) -> None:
    item = ctx["done"]["list_item"]
    assert item["retention"] == "Y"
    root = _record(service, item["id"])
    ctx["list"] = root
    [row] = root.find("拟销毁档案")
    assert row.get("应保管期限") == "10年" and row.get("已保管期限").endswith("年") and row.get("销毁时间")
    assert [(s.get("身份"), s.get("意见")) for s in root.iter("签名")] == [("会计管理机构负责人", "同意销毁"),
                                                                         ("单位负责人", "同意销毁")]
    assert [(m.get("姓名"), m.get("部门")) for m in root.iter("监销人")] == [(s["name"], s["unit"]) for s in SUPERVISORS]


@then(parsers.parse('被销毁的档案保留元数据和校验值，下载其归档包得到错误代码"{code}"'))
def tombstone(service, ctx, code: str) -> None:
    [entry] = ctx["done"]["items"]
    item = service.app.get(f"/api/v1/archive/items/{entry['item_id']}", headers=service.headers("王审计")).json
    assert item["destroyed"]["destruction"] == ctx["done"]["number"]
    assert item["package_sha256"] and item["manifest"] and item["archival_code"] == entry["archival_code"]
    error = service.app.get(f"/api/v1/archive/items/{entry['item_id']}/package", headers=service.headers("王审计"),
                            status=410).json["error"]
    assert error["code"] == code


@then("暂缓销毁的档案仍可完整下载，并在销毁清册中单独列明")
def held_kept(service, ctx) -> None:
    assert _files(service, ctx["held"]["id"])
    assert [el.get("档号") for el in ctx["list"].find("暂缓销毁档案")] == [ctx["held"]["archival_code"]]


@then(parsers.parse('"{who}"再次签署得到错误代码"{code}"'))
def twice(service, ctx, who: str, code: str) -> None:
    error = approve(service, ctx["destruction"]["id"], who, "单位负责人", status=409).json["error"]
    assert error["code"] == code


@then(parsers.parse('只有一人同意时执行销毁得到错误代码"{code}"'))
def not_yet(service, ctx, code: str) -> None:
    error = execute(service, ctx["destruction"]["id"], len(ctx["destruction"]["items"]), status=409).json["error"]
    assert error["code"] == code
