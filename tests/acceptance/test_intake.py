"""features/intake: every kind of e-invoice read over the HTTP API, checked against
../shared/samples/invoices/expected.json at run time (no expected value is copied)."""
from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal

from pytest_bdd import parsers, scenarios, then, when

from tests.support.invoices import SAMPLES, sample
from tests.support.journey import post_invoice

scenarios("intake/intake.feature")


def oracle(path: str) -> dict:
    sample(path)   # skips with a clear message where ../shared is absent
    samples = json.loads((SAMPLES / "expected.json").read_text("utf-8"))["samples"]
    return next(s for s in samples if s["file"] == path)


@when(parsers.parse('经办人"{who}"上传样本发票"{path}"'))
@when(parsers.parse('经办人"{who}"再上传样本发票"{path}"'))
def upload_sample(service, ctx, who: str, path: str) -> None:
    ctx["path"] = path
    ctx["response"] = post_invoice(service, sample(path), path.rsplit("/", 1)[-1], who=who, status="*")
    ctx.setdefault("responses", []).append(ctx["response"])


@then(parsers.parse('系统接收该发票，种类为"{kind}"'))
def received_kind(ctx, kind: str) -> None:
    assert ctx["response"].status_int == 201, ctx["response"].text
    assert ctx["response"].json["kind"] == kind


FIELDS = {"code": "code", "number": "number", "issue_date": "issue_date", "total": "total", "tax": "tax",
          "amount_excl_tax": "amount_excl_tax"}


@then("发票的各项字段与 expected.json 中该样本的记录一致")
def matches_oracle(ctx) -> None:
    inv, want = ctx["response"].json, oracle(ctx["path"])
    for key, field in FIELDS.items():
        if key in want:
            got = inv[field]
            if want[key] is not None and key in ("total", "tax", "amount_excl_tax"):
                assert Decimal(got) == Decimal(want[key]), key
            else:
                assert got == want[key], key
    for side in ("seller", "buyer"):
        if f"{side}_tax_id" in want:
            assert inv[side]["tax_id"] == want[f"{side}_tax_id"]
    if "red" in want:
        assert inv["is_red"] is want["red"]


@then("每个字段都注明了数据来源")
def provenance(ctx) -> None:
    doc = ctx["response"].json["document"]
    assert doc["provenance"]
    for field in ("number", "total"):
        if doc.get(field):
            assert doc["provenance"].get(field), field


@then(parsers.parse('第二次上传被拒绝，错误代码为"{code}"，业务键相同'))
def second_refused(ctx, code: str) -> None:
    first, second = ctx["responses"]
    assert first.status_int == 201
    assert second.status_int == 409 and second.json["error"]["code"] == code
    assert second.json["error"]["detail"]["business_key"] == first.json["business_key"]


@then("发票标记为红字发票，金额为负数，并记录原发票号码")
def red(ctx) -> None:
    inv, want = ctx["response"].json, oracle(ctx["path"])
    assert inv["is_red"] is True and Decimal(inv["total"]) < 0
    assert inv["original_number"] == want["original_number"]


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


HOSTILE = {
    "解压后极大的 ZIP 炸弹": lambda: _zip({"OFD.xml": b"<a/>", "Doc_0/Document.xml": b"\0" * (300 * 1024 * 1024)}),
    "含路径穿越成员的 OFD": lambda: _zip({"OFD.xml": b"<ofd:OFD/>", "../../etc/passwd": b"x"}),
    "声明了实体的 XML": lambda: (b"<?xml version='1.0'?><!DOCTYPE EInvoice [<!ENTITY x 'y'>]>"
                                b"<EInvoice><Header><EIid>&x;</EIid></Header></EInvoice>"),
}


@when(parsers.parse('经办人"{who}"上传恶意文件"{kind}"'))
def upload_hostile(service, ctx, who: str, kind: str) -> None:
    ctx["response"] = post_invoice(service, HOSTILE[kind.strip()](), "hostile.ofd", who=who, status="*")
