"""数电票 XML: the TaxBureauSignature is detached and its exact signed bytes
are not public, so a present signature is reported as
``present_not_verifiable`` (never ``valid``); without one, ``unsigned``.
Authenticity of such invoices rests on 查验 with the tax platform."""
from __future__ import annotations

from datetime import datetime, timezone

from ._xml import XmlError, parse_xml
from .certs import TrustStore
from .report import VERIFIER_VERSION, Check, SignatureInfo, VerificationReport
from .ses import parse_time


def verify_xml(data: bytes, *, trust_store: TrustStore | None = None,
               now: datetime | None = None) -> VerificationReport:
    verified_at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    ts = trust_store.describe() if trust_store else None
    try:
        root = parse_xml(data)
    except XmlError as exc:
        check = Check("xml_structure", "fail", f"XML 无法解析: {exc}")
        return VerificationReport("invalid", (check,), (), VERIFIER_VERSION, verified_at, ts)
    sigs = list(root.iter("TaxBureauSignature"))
    if not sigs:
        check = Check("tax_bureau_signature", "not_checked",
                      "XML 中没有 TaxBureauSignature：未签名，真实性须以税务平台查验为准")
        return VerificationReport("unsigned", (check,), (), VERIFIER_VERSION, verified_at, ts)
    checks, infos = [], []
    for i, el in enumerate(sigs):
        sid = "TaxBureauSignature" if len(sigs) == 1 else f"TaxBureauSignature[{i}]"
        value = el.find("SignatureValue")
        alg = el.find("SignatureAlgorithm")
        when = el.find("SignatureTime")
        fmt = el.find("SignatureFormat")
        has_value = value is not None and bool(value.text)
        checks.append(Check(
            "tax_bureau_signature", "not_checked",
            ("存在税务机关签名（TaxBureauSignature"
             + (f"，{fmt.text}" if fmt is not None and fmt.text else "")
             + "），但其签名原文的构造方式未公开，无法离线验证；"
             "真实性须以税务平台查验为准"
             + ("" if has_value else "；签名值为空")),
            sid, None))
        infos.append(SignatureInfo(
            id=sid, version="tax_bureau_xml", location=None,
            signing_time=parse_time(when.text) if when is not None else None,
            signing_time_source="signature_xml" if when is not None and when.text else None,
            signature_method=alg.text if alg is not None else None,
            verdict="present_not_verifiable"))
    return VerificationReport("present_not_verifiable", tuple(checks), tuple(infos),
                              VERIFIER_VERSION, verified_at, ts)
