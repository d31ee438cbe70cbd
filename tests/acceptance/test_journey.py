"""features/journey: the whole path of one e-invoice, over the HTTP API."""
from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from invoice_archive.digests import sha256_hex, sm3_hex
from tests.support.invoices import sample, sample_buyer
from tests.support.journey import archive_period, create_claim, post_invoice, post_voucher, voucher_report

scenarios("journey/journey.feature")


@pytest.fixture
def buyer_org() -> dict[str, str]:
    return sample_buyer("ofdrw/converter__1.ofd")


@then(parsers.parse('系统接收该发票，发票号码为"{number}"，价税合计为"{total}"'))
def received(ctx, number: str, total: str) -> None:
    assert ctx["response"].status_int == 201, ctx["response"].text
    assert ctx["invoice"]["number"] == number
    assert ctx["invoice"]["total"] == total


@then(parsers.parse('发票的电子签名校验结果为"{verdict}"'))
def verdict_is(ctx, verdict: str) -> None:
    assert ctx["invoice"]["verdict"] == verdict


@when(parsers.parse('经办人"{who}"以该发票创建报销单并提交'))
def claim_and_submit(service, ctx, who: str) -> None:
    claim = create_claim(service, [ctx["invoice"]["id"]], who=who).json
    ctx["claim"] = service.app.post_json(f"/api/v1/claims/{claim['id']}/submit", {},
                                         headers=service.headers(who)).json


@when(parsers.parse('审核人"{who}"审核通过'))
def review(service, ctx, who: str) -> None:
    ctx["claim"] = service.app.post_json(f"/api/v1/claims/{ctx['claim']['id']}/review", {"comment": "票据齐全"},
                                         headers=service.headers(who)).json


@when(parsers.parse('审批人"{who}"审批通过'))
def approve(service, ctx, who: str) -> None:
    ctx["claim"] = service.app.post_json(f"/api/v1/claims/{ctx['claim']['id']}/approve", {"comment": "同意"},
                                         headers=service.headers(who)).json


@then(parsers.parse('报销单的签核记录依次为"{steps}"'))
def signoffs(ctx, steps: str) -> None:
    assert [s["step"] for s in ctx["claim"]["signoffs"]] == steps.split("、")


@when(parsers.parse('总账系统报告记账凭证"{word}-{number}"已入账'))
def voucher_posted(service, ctx, word: str, number: str) -> None:
    report = voucher_report(ctx["claim"], number=number, year=2020, period=7, date="2020-07-31")
    report["voucher_word"] = word
    ctx["voucher"] = post_voucher(service, report).json


@then(parsers.parse('发票状态为"{status}"，并关联凭证"{number}"'))
def invoice_posted(service, ctx, status: str, number: str) -> None:
    inv = service.app.get(f"/api/v1/invoices/{ctx['invoice']['id']}", headers=service.headers("王审计")).json
    assert inv["status"] == status
    assert inv["voucher"]["number"] == number


@when(parsers.parse('档案员"{who}"归档该凭证所在会计期间'))
def archive(service, ctx, who: str) -> None:
    ctx["archive"] = archive_period(service, ctx["voucher"]["fiscal_year"], ctx["voucher"]["period"]).json


@then(parsers.parse('生成一件档案，档号以"{prefix}"开头'))
def archived(ctx, prefix: str) -> None:
    items = ctx["archive"]["archived"]
    assert len(items) == 1
    assert items[0]["archival_code"].startswith(prefix)


@when(parsers.parse('审计人员"{who}"按发票号码"{number}"查找并下载档案包'))
def auditor_downloads(service, ctx, who: str, number: str) -> None:
    found = service.app.get(f"/api/v1/archive/items?invoice_number={number}", headers=service.headers(who)).json
    assert found["total"] == 1
    ctx["item"] = found["items"][0]
    ctx["bundle"] = service.app.get(f"/api/v1/archive/items/{ctx['item']['id']}/bundle",
                                    headers=service.headers(who)).body


@then("档案包清单中原始发票的 SHA-256 与 SM3 与接收时的原始字节一致")
def manifest_matches(ctx) -> None:
    original = next(iter(ctx["originals"].values()))
    with zipfile.ZipFile(io.BytesIO(ctx["bundle"])) as zf:
        top = zf.namelist()[0].split("/", 1)[0]
        sha = dict(reversed(line.split("  ", 1)) for line in
                   zf.read(f"{top}/manifest-sha256.txt").decode().splitlines())
        sm3 = dict(reversed(line.split("  ", 1)) for line in
                   zf.read(f"{top}/manifest-sm3.txt").decode().splitlines())
        name = next(p for p in sha if "原始凭证" in p)
        assert zf.read(f"{top}/{name}") == original
    assert sha[name] == sha256_hex(original)
    assert sm3[name] == sm3_hex(original)


@then("档案包是有效的 BagIt 包")
def valid_bag(ctx, tmp_path) -> None:
    import bagit

    with zipfile.ZipFile(io.BytesIO(ctx["bundle"])) as zf:
        zf.extractall(tmp_path)
        top = zf.namelist()[0].split("/", 1)[0]
    bagit.Bag(str(tmp_path / top)).validate()


@given(parsers.parse('经办人"{who}"已上传电子发票"{path}"并创建报销单'))
def already_claimed(service, ctx, who: str, path: str) -> None:
    inv = post_invoice(service, sample(path), path.rsplit("/", 1)[-1], who=who).json
    ctx["earlier_claim"] = create_claim(service, [inv["id"]], who=who).json


@then("拒绝信息指明此前的报销单")
def names_earlier_claim(ctx) -> None:
    err: dict[str, Any] = ctx["response"].json["error"]
    assert err["detail"]["claim"]["number"] == ctx["earlier_claim"]["number"]
    assert ctx["earlier_claim"]["number"] in err["message"]
