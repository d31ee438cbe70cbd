"""features/verification: authenticity as the user sees it, with invoices the run signs
with its own SM2 PKI."""
from __future__ import annotations

import re
from typing import Any, Callable

from pytest_bdd import given, parsers, then, when

from invoice_archive.acceptance import harness as needs
from invoice_archive.acceptance.steps.common import Api, refusal
from invoice_archive.acceptance.words import CHECK_LABELS, CHECK_RESULT_LABELS, VERDICT_LABELS, codes_for, label
from invoice_archive.synth import pki as synth_pki


@given("信任库中配置了验收测试根证书")
def run_root_trusted(harness: Any, evidence: Callable) -> None:
    harness.require(needs.trusts_run_root())
    evidence("验收测试根证书", harness.factory.pki.root.cn)


@given("报销政策只接受签名有效的发票，且部署未接入税务平台")
def only_valid(harness: Any) -> None:
    harness.require(needs.only_valid_reimbursable())
    harness.require(needs.no_tax_platform())


@given("信任库已配置，报销政策只接受签名有效的发票，且部署未接入税务平台")
def trust_store_only_valid(harness: Any) -> None:
    harness.require(needs.trust_store())
    harness.require(needs.only_valid_reimbursable())
    harness.require(needs.no_tax_platform())


def _upload(api: Api, ctx: dict, data: bytes, filename: str, content_type: str, who: str) -> None:
    ctx["sent"] = data
    ctx["response"] = api.call("POST", "/api/v1/invoices", who, body=data, content_type=content_type,
                               params={"filename": filename})


@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张由受信任证书签章的电子发票'))
def upload_signed(api: Api, harness: Any, ctx: dict, who: str) -> None:
    ofd = harness.factory.ofd(ctx["buyer"])
    _upload(api, ctx, ofd.data, ofd.filename, ofd.content_type, who)


@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张由不受信任的证书签章的电子发票'))
def upload_stranger(api: Api, harness: Any, ctx: dict, who: str) -> None:
    ofd = harness.factory.ofd(ctx["buyer"], signer="stranger")
    _upload(api, ctx, ofd.data, ofd.filename, ofd.content_type, who)


@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张没有电子签名的合成数电票 OFD'))
def upload_unsigned(api: Api, harness: Any, ctx: dict, who: str) -> None:
    ofd = harness.factory.ofd(ctx["buyer"], digital=True, signer=None)
    _upload(api, ctx, ofd.data, ofd.filename, ofd.content_type, who)


@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张签章后页面内容被修改的电子发票'))
def upload_tampered(api: Api, harness: Any, ctx: dict, who: str) -> None:
    ofd = harness.factory.ofd(ctx["buyer"])
    tampered = synth_pki.flip_byte(ofd.data, "Doc_0/Pages/Page_0/Content.xml")
    _upload(api, ctx, tampered, "tampered.ofd", "application/ofd", who)


@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张由受信任证书签名的 PDF 电子发票'))
def upload_signed_pdf(api: Api, harness: Any, ctx: dict, who: str) -> None:
    pdf = harness.factory.pdf(ctx["buyer"])
    _upload(api, ctx, pdf.data, pdf.filename, pdf.content_type, who)


@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张签名后内容被修改的 PDF 电子发票'))
def upload_tampered_pdf(api: Api, harness: Any, ctx: dict, who: str) -> None:
    pdf = harness.factory.pdf(ctx["buyer"])
    tampered = pdf.data.replace(b"/MediaBox [0 0 595 842]", b"/MediaBox [0 0 596 842]", 1)
    assert tampered != pdf.data
    _upload(api, ctx, tampered, "tampered.pdf", pdf.content_type, who)


@then(parsers.re(r'系统接收该发票，签名校验结果为「(?P<verdict>[^」]+)」'))
def received_with_verdict(ctx: dict, verdict: str, evidence: Callable) -> None:
    resp = ctx["response"]
    assert resp.status == 201, f"发票应被接收（201），实际 {resp.status}：{resp.text[:400]}"
    ctx["invoice"] = inv = resp.json
    shown = label(VERDICT_LABELS, inv["verdict"])
    assert shown == verdict, f"签名校验结果应为「{verdict}」，实际「{shown}」"
    evidence("验签结论", f"{inv['business_key']}：{shown}")


def check_results(invoice: dict[str, Any]) -> dict[str, set[str]]:
    results: dict[str, set[str]] = {}
    for check in invoice["verification"]["checks"]:
        results.setdefault(check["code"], set()).add(check["result"])
    return results


@then(parsers.re(r'校验报告中(?P<names>(「[^」]+」)+)各项均通过'))
def checks_pass(ctx: dict, names: str, evidence: Callable) -> None:
    results = check_results(ctx["invoice"])
    for name in re.findall(r"「([^」]+)」", names):
        found = {code: res for code, res in results.items() if code in codes_for(CHECK_LABELS, name, "校验项")}
        assert found, f"校验报告中没有「{name}」一项：{sorted(results)}"
        assert all(res == {"pass"} for res in found.values()), \
            f"「{name}」应通过，实际 {[label(CHECK_RESULT_LABELS, r) for res in found.values() for r in res]}"
    evidence("校验项", "、".join(re.findall(r"「([^」]+)」", names)) + "：通过")


@then(parsers.re(r'校验报告中「(?P<name>[^」]+)」一项提示根证书不在信任库中'))
def check_warns(ctx: dict, name: str, evidence: Callable) -> None:
    codes = codes_for(CHECK_LABELS, name, "校验项")
    found = [c for c in ctx["invoice"]["verification"]["checks"] if c["code"] in codes]
    assert found and all(c["result"] == "warning" for c in found), found
    assert "信任库" in found[0]["detail"], found[0]["detail"]
    evidence(name, found[0]["detail"])


@then("该发票可以创建报销单")
def can_claim(api: Api, ctx: dict, evidence: Callable) -> None:
    claim = api.create_claim([ctx["invoice"]["id"]]).json
    evidence("报销单", claim["number"])


@then(parsers.re(r'以该发票创建报销单被拒绝，错误代码为"(?P<code>[^"]+)"'))
def claim_refused(api: Api, ctx: dict, code: str, evidence: Callable) -> None:
    err = refusal(api.create_claim([ctx["invoice"]["id"]], expect=None))
    assert err["code"] == code, f"应为 {code}，实际 {err['code']}：{err['message']}"
    assert "税务平台查验" in err["message"], err["message"]
    evidence("拒绝", err["message"])


@then(parsers.re(r'拒绝信息指明被修改的文件"(?P<name>[^"]+)"'))
def names_file(ctx: dict, name: str) -> None:
    err = ctx["response"].json["error"]
    assert name in err["message"], err["message"]
    assert name in err["detail"]["files"], err["detail"]
