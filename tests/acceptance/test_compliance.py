"""features/compliance: 查验, duplicates across formats, 抬头, red invoices, amount in words."""
from __future__ import annotations

import datetime as dt

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from invoice_archive_adapters.testing.fakes.taxplatform import FakeTaxPlatform
from invoice_archive.formats import read_invoice
from tests.support.invoices import sample, synthetic_xml
from tests.support.journey import approve_claim, create_claim, post_invoice, post_voucher, voucher_report

scenarios("compliance/compliance.feature")

RECENT = dt.datetime.now() - dt.timedelta(days=3)


@pytest.fixture
def platform():
    with FakeTaxPlatform(hang_seconds=1.0) as fake:
        yield fake


@pytest.fixture
def service_overrides(platform) -> dict[str, str]:
    return {"verification.reimbursable_verdicts": "valid",
            "taxplatform.backend": "invoice_archive_adapters.taxplatform.http:HttpTaxPlatform", "taxplatform.url": platform.url}


@given("税务平台查验服务已接入，报销政策只接受签名有效或查验正常的发票")
def platform_ready(service, platform) -> None:
    assert platform.url.startswith("http://127.0.0.1:")


@when(parsers.parse('经办人"{who}"再上传同一张发票的 XML 文件"{path}"'))
def upload_xml_twin(service, ctx, who: str, path: str) -> None:
    ctx["response"] = post_invoice(service, sample(path), path.rsplit("/", 1)[-1], who=who, status="*")


@then(parsers.parse('拒绝信息给出此前接收的时间和格式"{fmt}"'))
def evidence(ctx, fmt: str) -> None:
    detail = ctx["response"].json["error"]["detail"]
    assert detail["source_format"] == fmt and detail["received_at"]
    assert detail["received_at"][:10] in ctx["response"].json["error"]["message"]


def _scripted(platform, ctx, answer: str, **kw) -> None:
    data = synthetic_xml(kw.pop("number", "24992000000000000001"), issued=RECENT, **kw)
    if ctx.get("words_wrong"):
        data = data.replace("壹仟零陆拾圆整".encode(), "壹仟零陆拾壹圆整".encode())
    doc = read_invoice(data)
    platform.register(doc)
    if answer != "normal":
        platform.script(doc.number, answer)
    ctx["data"] = data


@given(parsers.parse('税务平台查验一张抬头为"{name}"（税号 {tax_id}）的发票结果为"{answer}"'))
def foreign_invoice(platform, ctx, name: str, tax_id: str, answer: str) -> None:
    _scripted(platform, ctx, answer, buyer_name=name, buyer_tax_id=tax_id)


@given(parsers.parse('税务平台查验一张本单位的发票结果为"{answer}"'))
def own_invoice(platform, ctx, answer: str) -> None:
    _scripted(platform, ctx, answer)


@given(parsers.parse('税务平台查验一张本单位、大写金额写错的发票结果为"{answer}"'))
def wrong_words(platform, ctx, answer: str) -> None:
    ctx["words_wrong"] = True
    _scripted(platform, ctx, answer)


@when(parsers.parse('经办人"{who}"上传该发票并以其创建报销单'))
def upload_and_claim(service, ctx, who: str) -> None:
    ctx["invoice"] = post_invoice(service, ctx["data"], who=who).json
    ctx["response"] = create_claim(service, [ctx["invoice"]["id"]], who=who, status="*")


@then(parsers.re(r'报销单被拒绝，错误代码为"(?P<code>[^"]+)"(，未通过的规则包括"(?P<rule>[^"]+)")?'))
def claim_refused(ctx, code: str, rule: str | None) -> None:
    resp = ctx["response"]
    assert resp.status_int == 422, resp.text
    err = resp.json["error"]
    assert err["code"] == code and err["message"]
    if rule:
        assert rule in err["detail"]["failing_rules"]


@given(parsers.re(r'经办人"(?P<who>[^"]+)"上传该发票，报销单审批通过并已记入凭证"记-(?P<number>\d+)"'))
def reimbursed_and_posted(service, ctx, who: str, number: str) -> None:
    inv = post_invoice(service, ctx["data"], who=who).json
    claim = approve_claim(service, create_claim(service, [inv["id"]], who=who).json["id"])
    post_voucher(service, voucher_report(claim, number=number))
    ctx["claim"] = claim


@when("该发票的红字发票到达")
def red_arrives(service, platform, ctx) -> None:
    red = synthetic_xml("24992000000000000002", issued=RECENT, red_of="24992000000000000001")
    platform.register(read_invoice(red))
    post_invoice(service, red)


@then(parsers.parse('报销单显示"须冲销"提醒，并指明凭证"{number}"'))
def alert_shown(service, ctx, number: str) -> None:
    claim = service.app.get(f"/api/v1/claims/{ctx['claim']['id']}", headers=service.headers("王审计")).json
    assert claim["reversal_required"] is True
    assert any(a["kind"] == "reversal_required" and number in a["message"] for a in claim["alerts"])


@then(parsers.parse('审计日志中有"{action}"记录'))
def audit_has(service, action: str) -> None:
    events = service.app.get("/api/v1/audit/events", {"limit": 500}, headers=service.headers("王审计")).json
    assert action in [e["action"] for e in events["items"]]


@then(parsers.parse('发票的规则检查报告中"{code}"未通过'))
def rule_failed(ctx, code: str) -> None:
    check = next(c for c in ctx["invoice"]["rules"]["checks"] if c["code"] == code)
    assert check["result"] == "fail" and check["message"]
