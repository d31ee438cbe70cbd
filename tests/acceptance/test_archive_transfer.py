"""features/archive/transfer.feature: a signed 移交清册 (应保管期限, 已保管期限, the three
sign-offs, the service's signature), archived, its items marked transferred, checked by the
receiver with the published key (HTTP API and the console script only)."""
from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from invoice_archive.cli import main
from tests.support.invoices import synthetic_xml
from tests.support.journey import approve_claim, archive_period, create_claim, post_invoice, post_voucher, voucher_report
from tests.support.records import add_people, archive_records, china_today, receive_statement, waive

scenarios("archive/transfer.feature")
ROLES = {"移交人": "handover", "接收人": "receiver", "监交人": "supervisor"}


@pytest.fixture
def service_overrides(tmp_path):
    return {"bundle.signing_key": str(tmp_path / "bundle-key.pem"), "bundle.signing_key_generate": "true"}


@given("2024年7月的一张记账凭证和一份银行对账单已归档")
def archived(service) -> None:
    add_people(service)
    inv = post_invoice(service, synthetic_xml("24992000000000000001")).json
    claim = approve_claim(service, create_claim(service, [inv["id"]]).json["id"])
    post_voucher(service, voucher_report(claim))
    archive_period(service, 2024, 7)
    receive_statement(service, year=2024, month=7)
    archive_records(service, 2024, 7)


@when(parsers.re(r'(会计|档案员)"(?P<who>\w+)"编制(?P<year>\d{4})年度的移交清册，接收单位为"(?P<unit>[^"]+)"'))
def prepare(service, ctx, who: str, year: str, unit: str) -> None:
    ctx["transfer"] = service.app.post_json("/api/v1/archive/transfers", {"fiscal_year": int(year),
                                                                          "receiver_unit": unit},
                                            headers=service.headers(who)).json
    assert len(ctx["transfer"]["items"]) == 2


def _sign(service, ctx, who: str, capacity: str, status: int = 200) -> dict:
    return service.app.post_json(f"/api/v1/archive/transfers/{ctx['transfer']['id']}/sign",
                                 {"role": ROLES[capacity], **waive(service)}, headers=service.headers(who),
                                 status=status).json


@when(parsers.parse('"{a}"作为移交人、"{b}"作为接收人、"{c}"作为监交人依次签署'))
def three_sign(service, ctx, a: str, b: str, c: str) -> None:
    _sign(service, ctx, a, "移交人")
    _sign(service, ctx, b, "接收人")
    ctx["done"] = _sign(service, ctx, c, "监交人")
    assert ctx["done"]["status"] == "completed"


@when(parsers.parse('"{who}"作为移交人签署'))
def hand_over(service, ctx, who: str) -> None:
    _sign(service, ctx, who, "移交人")


@then("移交清册列明每件档案的应保管期限和已保管期限，并有移交人、接收人和监交人的签名")
def the_list(service, ctx) -> None:
    body = service.app.get(f"/api/v1/archive/items/{ctx['done']['list_item']['id']}/package",
                           headers=service.headers("王审计")).body
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        files = {n.split("/", 1)[1]: zf.read(n) for n in zf.namelist()}
    [name] = [n for n in files if n.endswith("-01-会计档案移交清册.xml")]
    root = ET.fromstring(files[name])
    kept = f"{china_today().year - 2025}年"          # counted from 2025-01-01, the day after 2024 ended
    assert {(el.get("应保管期限"), el.get("已保管期限")) for el in root.find("移交档案")} == {("30年", kept), ("10年", kept)}
    assert [s.get("身份") for s in root.iter("签名")] == ["移交人", "接收人", "监交人"]
    assert any(n.endswith("-02-签名.json") for n in files)


@then(parsers.parse('移交清册作为其他会计资料归档，保管期限"{retention}"，所列档案均标记为已移交'))
def archived_and_marked(service, ctx, retention: str) -> None:
    assert ctx["done"]["list_item"]["retention"] == retention and "-QT·" in ctx["done"]["list_item"]["archival_code"]
    for entry in ctx["done"]["items"]:
        item = service.app.get(f"/api/v1/archive/items/{entry['item_id']}", headers=service.headers("王审计")).json
        assert item["transfer"]["transferred"] is True and item["transfer"]["number"] == ctx["done"]["number"]


@then("接收方用公布的公钥核验移交包，清册签名和每件档案的四性检测均通过")
def receiver_checks(service, ctx, tmp_path, capsys) -> None:
    package = tmp_path / "transfer.zip"
    package.write_bytes(service.app.get(f"/api/v1/archive/transfers/{ctx['done']['id']}/package",
                                        headers=service.headers("王审计")).body)
    key = tmp_path / "key.pem"
    key.write_bytes(service.app.get("/api/v1/bundle-key").body)
    capsys.readouterr()
    ini = Path(__file__).resolve().parents[2] / "development.ini"
    assert main(["-c", str(ini), "transfer", "check", str(package), "--public-key", str(key), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["ok"] and report["signature"] == "checked" and report["passed"] == report["items"] == 2


@then(parsers.parse('"{who}"再作为接收人签署得到错误代码"{code}"'))
def same_person(service, ctx, who: str, code: str) -> None:
    assert _sign(service, ctx, who, "接收人", status=403)["error"]["code"] == code
