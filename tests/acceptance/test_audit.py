"""features/audit: an auditor finds a voucher, takes its bundle away and checks it offline."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from invoice_archive.bundle import verify_bundle
from tests.support.invoices import synthetic_xml
from tests.support.journey import approve_claim, create_claim, post_invoice, post_voucher, voucher_report

scenarios("audit/audit.feature")


@pytest.fixture
def service_overrides(tmp_path: Path) -> dict[str, str]:
    return {"bundle.signing_algorithm": "sm2-sm3", "bundle.signing_key": str(tmp_path / "bundle-key.pem"),
            "bundle.signing_key_generate": "true"}


@given(parsers.parse('发票"{number}"已报销并入账为记账凭证"{word}-{voucher_number}"'))
def posted(service, ctx, number: str, word: str, voucher_number: str) -> None:
    ctx["original"] = synthetic_xml(number)
    inv = post_invoice(service, ctx["original"], f"{number}.xml").json
    claim = approve_claim(service, create_claim(service, [inv["id"]]).json["id"])
    report = voucher_report(claim, number=voucher_number)
    report["voucher_word"] = word
    post_voucher(service, report)


@when(parsers.parse('审计人员"{who}"按发票号码"{number}"查找凭证'))
def find(service, ctx, who: str, number: str) -> None:
    ctx["found"] = service.app.get("/api/v1/search/vouchers", params={"invoice_number": number},
                                   headers=service.headers(who)).json


@then(parsers.parse('找到 {count:d} 张凭证"{display}"'))
def found(ctx, count: int, display: str) -> None:
    assert ctx["found"]["total"] == count
    assert [v["display_number"] for v in ctx["found"]["items"]] == [display]


@when(parsers.parse('审计人员"{who}"下载该凭证的审计包，并取得服务公布的公钥'))
def download(service, ctx, who: str) -> None:
    ctx["voucher_id"] = ctx["found"]["items"][0]["id"]
    ctx["bundle"] = service.app.get(f"/api/v1/vouchers/{ctx['voucher_id']}/bundle",
                                    headers=service.headers(who)).body
    ctx["public_key"] = service.app.get("/api/v1/bundle-key").body


@then("用公布的公钥离线核验审计包通过")
def verifies(ctx) -> None:
    report = verify_bundle(ctx["bundle"], ctx["public_key"])
    assert report.status == "pass", report.to_text()


@then("审计包中的原始发票与接收时的字节一致")
def original_kept(ctx) -> None:
    with zipfile.ZipFile(io.BytesIO(ctx["bundle"])) as zf:
        assert zf.read("invoices/01/original.xml") == ctx["original"]


@when(parsers.parse('有人改动了审计包中的"{path}"'))
def tamper(ctx, path: str) -> None:
    with zipfile.ZipFile(io.BytesIO(ctx["bundle"])) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members[path] = members[path].replace("价税合计".encode(), "价税合讠".encode(), 1) \
        if "价税合计".encode() in members[path] else members[path] + b" "
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    ctx["bundle"] = buf.getvalue()


@then(parsers.parse('离线核验不通过，并指明"{path}"'))
def caught(ctx, path: str) -> None:
    report = verify_bundle(ctx["bundle"], ctx["public_key"])
    assert report.status == "fail"
    assert path in {c.file for c in report.failed}, report.to_text()
    assert path in report.to_text()


def _events(service: Any, **params: str) -> list[dict[str, Any]]:
    return service.app.get("/api/v1/audit/events", params={"limit": "500", **params},
                           headers=service.headers("王审计")).json["items"]


@then(parsers.parse('审计日志记录了"{who}"的查询"{action}"'))
def search_logged(service, ctx, who: str, action: str) -> None:
    events = [e for e in _events(service, object_type="search") if e["action"] == action]
    assert events and events[-1]["actor"] == who and events[-1]["at"]


@then(parsers.parse('审计日志记录了"{who}"对该凭证的下载"{action}"'))
def download_logged(service, ctx, who: str, action: str) -> None:
    events = [e for e in _events(service, object_type="voucher", object_id=str(ctx["voucher_id"]))
              if e["action"] == action]
    assert [e["actor"] for e in events] == [who]


@when(parsers.parse('审计人员"{who}"登录审计网页，打开编号为 {voucher_id:d} 的凭证'))
def open_missing(service, ctx, who: str, voucher_id: int) -> None:
    form = service.app.get("/audit/").forms[0]
    form["token"] = service.tokens[who]
    assert form.submit().status_int == 303
    ctx["page"] = service.app.get(f"/audit/vouchers/{voucher_id}", expect_errors=True)


@then("页面状态为 404，页面以中文说明该页面不存在")
def chinese_404(ctx) -> None:
    page = ctx["page"]
    assert page.status_int == 404 and page.content_type == "text/html"
    assert "不存在" in page.text and 'lang="zh-CN"' in page.text
