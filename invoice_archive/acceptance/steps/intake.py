"""features/intake: every kind of synthetic e-invoice read over the HTTP API, compared
with what the synthesizer wrote into it; hostile and non-invoice files refused."""
from __future__ import annotations

import io
import zipfile
from decimal import Decimal
from typing import Any, Callable

from pytest_bdd import parsers, then, when

from invoice_archive.acceptance.steps.common import Api, refusal
from invoice_archive.acceptance.words import KIND_LABELS, code_for, label


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


HOSTILE: dict[str, Callable[[], bytes]] = {
    "解压后极大的 ZIP 炸弹": lambda: _zip({"OFD.xml": b"<a/>", "Doc_0/Document.xml": b"\0" * (300 * 1024 * 1024)}),
    "含路径穿越成员的 OFD": lambda: _zip({"OFD.xml": b"<ofd:OFD/>", "../../etc/passwd": b"x"}),
    "声明了实体的 XML": lambda: (b"<?xml version='1.0'?><!DOCTYPE EInvoice [<!ENTITY x 'y'>]>"
                                b"<EInvoice><Header><EIid>&x;</EIid></Header></EInvoice>"),
}

NOT_INVOICES: dict[str, Callable[[], bytes]] = {
    "空文件": lambda: b"",
    "随机字节": lambda: bytes(range(256)) * 8,
    "不含发票的 ZIP 包": lambda: _zip({"readme.txt": "这不是发票".encode()}),
    "不是发票的 XML": lambda: "<?xml version='1.0' encoding='UTF-8'?><订单><编号>1</编号></订单>".encode(),
}


def send_raw(api: Api, ctx: dict, data: bytes, filename: str, who: str) -> None:
    ctx["sent"] = data
    ctx["response"] = api.call("POST", "/api/v1/invoices", who, body=data, content_type="application/octet-stream",
                               params={"filename": filename})


@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张合成的「(?P<kind>[^」]+)」（(?P<fmt>[A-Z]+)）'))
def upload_kind(api: Api, harness: Any, ctx: dict, who: str, kind: str, fmt: str, evidence: Callable) -> None:
    buyer, make = ctx["buyer"], harness.factory
    code = code_for(KIND_LABELS, kind, "发票种类")
    files = {("digital_normal", "XML"): lambda: make.xml(buyer),
             ("digital_special", "XML"): lambda: make.xml(buyer, special=True),
             ("vat_e_normal", "OFD"): lambda: make.ofd(buyer),
             ("digital_normal", "PDF"): lambda: make.pdf(buyer)}
    assert (code, fmt) in files, f"验收程序不会开具「{kind}」的 {fmt} 文件"
    ctx["file"] = file = files[(code, fmt)]()
    ctx["response"] = api.upload(file, who)
    evidence("上传", f"{file.filename}（{len(file.data)} 字节）")


@then(parsers.re(r'系统接收该发票，种类为「(?P<kind>[^」]+)」'))
def received_kind(ctx: dict, kind: str, evidence: Callable) -> None:
    resp = ctx["response"]
    assert resp.status == 201, f"发票应被接收（201），实际 {resp.status}：{resp.text[:400]}"
    ctx["invoice"] = inv = resp.json
    assert label(KIND_LABELS, inv["kind"]) == kind, f"种类应为「{kind}」，实际「{label(KIND_LABELS, inv['kind'])}」"
    evidence("发票", f"{inv['business_key']}（{kind}），SHA-256 {inv['sha256']}")


FIELDS = {"code": "发票代码", "number": "发票号码", "issue_date": "开票日期", "amount_excl_tax": "金额",
          "tax": "税额", "total": "价税合计", "seller_name": "销售方名称", "seller_tax_id": "销售方税号",
          "buyer_name": "购买方名称", "buyer_tax_id": "购买方税号"}


def _got(inv: dict[str, Any], key: str) -> Any:
    if key.startswith(("seller_", "buyer_")):
        side, field = key.split("_", 1)
        return inv[side][field]
    return inv[key]


@then("发票的号码、开票日期、金额、税额、价税合计和买卖双方与开具时一致")
def fields_match(ctx: dict) -> None:
    inv, want = ctx["invoice"], ctx["file"].fields
    wrong = []
    for key, name in FIELDS.items():
        if key not in want:
            continue
        got, expected = _got(inv, key), want[key]
        same = (Decimal(str(got)) == Decimal(str(expected))) if isinstance(expected, Decimal) and got is not None \
            else (got or None) == (expected or None)
        if not same:
            wrong.append(f"{name}：开具 {expected}，读出 {got}")
    assert not wrong, "；".join(wrong)


@then("每个字段都注明了数据来源")
def provenance(ctx: dict) -> None:
    doc = ctx["invoice"]["document"]
    assert doc.get("provenance"), "读取结果没有字段来源（provenance）"
    missing = [f for f in ("number", "issue_date", "total", "buyer_tax_id") if doc.get(f) and not doc["provenance"].get(f)]
    assert not missing, f"这些字段没有注明来源：{missing}"


# -- one invoice in two formats ---------------------------------------------------------------

@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张合成数电票的 OFD 文件'))
def upload_digital_ofd(api: Api, harness: Any, ctx: dict, who: str, evidence: Callable) -> None:
    ofd = harness.factory.ofd(ctx["buyer"], digital=True)
    ctx["first"] = api.upload(ofd, who)
    ctx["twin_number"] = ofd.number
    evidence("OFD", f"{ofd.filename}，号码 {ofd.number}")


@when(parsers.re(r'经办人"(?P<who>[^"]+)"再上传同一张发票的 XML 文件'))
def upload_xml_twin(api: Api, harness: Any, ctx: dict, who: str, evidence: Callable) -> None:
    xml = harness.factory.xml(ctx["buyer"], number=ctx["twin_number"])
    ctx["response"] = api.upload(xml, who)
    evidence("XML", f"{xml.filename}，号码 {xml.number}")


@then(parsers.re(r'第二次上传被拒绝，错误代码为"(?P<code>[^"]+)"，业务键相同'))
def second_refused(ctx: dict, code: str, evidence: Callable) -> None:
    first, second = ctx["first"], ctx["response"]
    assert first.status == 201, f"第一次上传应被接收，实际 {first.status}：{first.text[:300]}"
    err = refusal(second)
    assert second.status == 409 and err["code"] == code, f"应为 409 {code}，实际 {second.status} {err['code']}"
    assert err["detail"]["business_key"] == first.json["business_key"]
    evidence("业务键", first.json["business_key"])


@then(parsers.re(r'拒绝信息给出此前接收的时间和格式「(?P<fmt>[^」]+)」'))
def evidence_given(ctx: dict, fmt: str, evidence: Callable) -> None:
    err = ctx["response"].json["error"]
    assert err["detail"]["source_format"] == fmt and err["detail"]["received_at"]
    assert err["detail"]["received_at"][:10] in err["message"], err["message"]
    evidence("拒绝信息", err["message"])


# -- red invoices -------------------------------------------------------------------------------

@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张合成的红字数电票，冲销此前开具的一张蓝字发票'))
def upload_red(api: Api, harness: Any, ctx: dict, who: str) -> None:
    blue = harness.factory.invoice_number()
    ctx["file"] = red = harness.factory.xml(ctx["buyer"], red_of=blue)
    ctx["response"] = api.upload(red, who)


@then("发票标记为红字发票，金额为负数，并记录原发票号码")
def red(ctx: dict, evidence: Callable) -> None:
    resp = ctx["response"]
    assert resp.status == 201, resp.text[:400]
    inv = resp.json
    assert inv["is_red"] is True, "未标记为红字发票"
    assert Decimal(inv["total"]) < 0, f"价税合计应为负数，实际 {inv['total']}"
    assert inv["original_number"] == ctx["file"].fields["original_number"]
    evidence("红字发票", f"{inv['number']} 冲销 {inv['original_number']}，价税合计 {inv['total']}")


# -- files that must not get in ----------------------------------------------------------------------

@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传恶意文件「(?P<kind>[^」]+)」'))
def upload_hostile(api: Api, ctx: dict, who: str, kind: str) -> None:
    send_raw(api, ctx, HOSTILE[kind.strip()](), "hostile.ofd", who)


@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传文件「(?P<kind>[^」]+)」'))
def upload_not_invoice(api: Api, ctx: dict, who: str, kind: str) -> None:
    send_raw(api, ctx, NOT_INVOICES[kind.strip()](), "file.ofd", who)

