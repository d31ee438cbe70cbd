"""features/verification: authenticity checks as the user sees them, over the HTTP API."""
from __future__ import annotations

from pathlib import Path

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from invoice_archive.synth.ofd import build_ofd_invoice
from tests.support import testca
from tests.support.app import BUYER
from tests.support.journey import create_claim, post_invoice

scenarios("verification/verification.feature")


@pytest.fixture(scope="module")
def pki() -> testca.TestPKI:
    return testca.build_pki()


@pytest.fixture
def service_overrides(pki, tmp_path) -> dict[str, str]:
    trust = pki.write_trust_store(tmp_path / "trust")
    return {"verification.trust_store": str(trust), "verification.reimbursable_verdicts": "valid"}


@pytest.fixture
def signed_invoice(pki) -> bytes:
    unsigned = build_ofd_invoice(buyer_name=BUYER["name"], buyer_tax_id=BUYER["tax_id"], number="00000077")
    return testca.sign_ofd(unsigned, pki.signer, testca.SealSpec(pki.seal_maker))


@pytest.fixture
def signed_pdf(pki) -> bytes:
    import datetime as dt

    from tests.support.pdfsign import sign_pdf
    from tests.support.textpdf import digital_invoice_lines, make_text_pdf

    when = dt.datetime(2024, 3, 15, 2, 0, tzinfo=dt.timezone.utc)
    lines = digital_invoice_lines("24992000000000000177", buyer_name=BUYER["name"], buyer_tax_id=BUYER["tax_id"])
    return sign_pdf(make_text_pdf(lines), lambda content: testca.signed_data(content, pki.signer, when, pkcs7=True))


@when(parsers.parse('经办人"{who}"上传一张由受信任证书签名的 PDF 电子发票'))
def upload_signed_pdf(service, ctx, signed_pdf, who: str) -> None:
    ctx["response"] = post_invoice(service, signed_pdf, "signed.pdf", who=who, status="*",
                                   content_type="application/pdf")


@when(parsers.parse('经办人"{who}"上传一张签名后内容被修改的 PDF 电子发票'))
def upload_tampered_pdf(service, ctx, signed_pdf, who: str) -> None:
    tampered = signed_pdf.replace(b"/MediaBox [0 0 595 842]", b"/MediaBox [0 0 596 842]", 1)
    ctx["response"] = post_invoice(service, tampered, "tampered.pdf", who=who, status="*",
                                   content_type="application/pdf")


@given("信任库中配置了测试根证书，且报销政策只接受签名有效的发票")
def trust_store_configured(service, service_overrides) -> None:
    assert Path(service_overrides["verification.trust_store"], "root.pem").is_file()


@when(parsers.parse('经办人"{who}"上传一张由受信任证书签章的电子发票'))
def upload_signed(service, ctx, signed_invoice, who: str) -> None:
    ctx["response"] = post_invoice(service, signed_invoice, "signed.ofd", who=who, status="*")
    ctx["invoice"] = ctx["response"].json


@when(parsers.parse('经办人"{who}"上传一张签章后页面内容被修改的电子发票'))
def upload_tampered(service, ctx, signed_invoice, who: str) -> None:
    tampered = testca.flip_byte(signed_invoice, "Doc_0/Pages/Page_0/Content.xml")
    ctx["response"] = post_invoice(service, tampered, "tampered.ofd", who=who, status="*")


@then(parsers.parse('系统接收该发票，签名校验结果为"{verdict}"'))
def received_with_verdict(ctx, verdict: str) -> None:
    assert ctx["response"].status_int == 201, ctx["response"].text
    ctx["invoice"] = ctx["response"].json
    assert ctx["invoice"]["verdict"] == verdict


@then(parsers.re(r'校验报告中(?P<codes>.+)各项均通过'))
def checks_pass(ctx, codes: str) -> None:
    results = {}
    for check in ctx["invoice"]["verification"]["checks"]:
        results.setdefault(check["code"], set()).add(check["result"])
    for code in codes.replace('"', "").split("、"):
        assert results.get(code) == {"pass"}, (code, results.get(code))


@then(parsers.parse('校验报告中"{code}"一项提示根证书不在信任库中'))
def check_warns(ctx, code: str) -> None:
    found = [c for c in ctx["invoice"]["verification"]["checks"] if c["code"] == code]
    assert found and all(c["result"] == "warning" for c in found)
    assert "信任库" in found[0]["detail"]


@then("该发票可以创建报销单")
def can_claim(service, ctx) -> None:
    create_claim(service, [ctx["invoice"]["id"]])


@then(parsers.parse('以该发票创建报销单被拒绝，错误代码为"{code}"'))
def claim_refused(service, ctx, code: str) -> None:
    err = create_claim(service, [ctx["invoice"]["id"]], status=422).json["error"]
    assert err["code"] == code
    assert "税务平台查验" in err["message"]


@then(parsers.parse('拒绝信息指明被修改的文件"{name}"'))
def names_file(ctx, name: str) -> None:
    err = ctx["response"].json["error"]
    assert name in err["message"]
    assert name in err["detail"]["files"]
