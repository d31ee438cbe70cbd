"""数电票 XML: the TaxBureauSignature is detached and its exact signed bytes
are not public, so a present signature is reported as
``present_not_verifiable`` (never ``valid``); without one, ``unsigned``.
Authenticity of such invoices rests on 查验 with the tax platform."""
from __future__ import annotations

from datetime import datetime, timezone

from invoice_archive.formats import xmlsafe
from invoice_archive.formats.errors import InvoiceFormatError

from .certs import TrustStore
from .report import VERIFIER_VERSION, Check, SignatureInfo, VerificationReport
from .ses import parse_time


def verify_xml(data: bytes, *, trust_store: TrustStore | None = None,
               now: datetime | None = None) -> VerificationReport:
    verified_at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    ts = trust_store.describe() if trust_store else None
    try:   # the readers' hardened parser: no DTD, GBK transcoded, the tree built in C
        root = xmlsafe.parse(xmlsafe.prepare(data, "invoice.xml"), "invoice.xml")
    except InvoiceFormatError as exc:
        check = Check("xml_structure", "fail", f"XML 无法解析: {exc.message}")
        return VerificationReport("invalid", (check,), (), VERIFIER_VERSION, verified_at, ts)
    sigs = list(root.iter("{*}TaxBureauSignature"))
    if not sigs:
        check = Check("tax_bureau_signature", "not_checked",
                      "XML 中没有 TaxBureauSignature：未签名，真实性须以税务平台查验为准")
        return VerificationReport("unsigned", (check,), (), VERIFIER_VERSION, verified_at, ts)
    checks, infos = [], []
    for i, el in enumerate(sigs):
        sid = "TaxBureauSignature" if len(sigs) == 1 else f"TaxBureauSignature[{i}]"
        value, alg, when, fmt = (_text(el, name) for name in (
            "SignatureValue", "SignatureAlgorithm", "SignatureTime", "SignatureFormat"))
        has_value = bool(value)
        checks.append(Check(
            "tax_bureau_signature", "not_checked",
            ("存在税务机关签名（TaxBureauSignature"
             + (f"，{fmt}" if fmt else "")
             + "），但其签名原文的构造方式未公开，无法离线验证；"
             "真实性须以税务平台查验为准"
             + ("" if has_value else "；签名值为空")),
            sid, None))
        infos.append(SignatureInfo(
            id=sid, version="tax_bureau_xml", location=None,
            signing_time=parse_time(when) if when is not None else None,
            signing_time_source="signature_xml" if when else None,
            signature_method=alg,
            verdict="present_not_verifiable"))
    return VerificationReport("present_not_verifiable", tuple(checks), tuple(infos),
                              VERIFIER_VERSION, verified_at, ts)


def _text(el: xmlsafe.Element, name: str) -> str | None:
    """The stripped text of the child ``name`` (any namespace), or None without one."""
    text = xmlsafe.findtext(el, name)
    return None if text is None else text.strip()
