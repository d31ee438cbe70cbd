"""Verification of the signatures inside an OFD package (GB/T 33190; docs/signatures.md).

Each check is reported on its own (see docs/signatures.md):

1. every referenced file's digest (``reference_digest``; a missing file is
   ``reference_missing``; an unknown CheckMethod is ``digest_method``),
2. ``data_hash``: the dataHash in the signed value == SM3(raw Signature.xml)
   (GB/T 35275: ``message_digest``),
3. ``signer_signature``: SM2-with-SM3 over the raw TBS bytes as stored, user ID
   1234567812345678, key from the signer certificate,
4. ``seal_signature``: the seal maker's SM2 signature over DER(SES_SealInfo),
5. certificates: validity at signing time and the chain to a trust store
   (``chain_valid`` / ``chain_root_untrusted`` / ``chain_invalid`` /
   ``chain_not_checked``).
"""
from __future__ import annotations

import base64
import hashlib
import binascii
import posixpath
from datetime import datetime, timezone
from typing import Mapping

from . import sm
from ._steps import (_chain, _cert, _Ctx, _encoding_warning, _sm2_cached, _sm2_check, _try_parse,
                     _validity, _with_verdict, clear_caches)
from ._xml import El, XmlError, parse_xml
from .certs import ParsedCertificate, TrustStore
from .report import (VERIFIER_VERSION, Check, SignatureInfo, VerificationReport,
                     verdict_from_checks)
from .ses import (GBT35275_DATA, SESSignature, Seal, SignedData, SignedValueError,
                  parse_signed_value, parse_time)

SM3_NAMES = {"sm3", "1.2.156.10197.1.401", "1.2.156.10197.1.401.1"}
__all__ = ["verify_ofd", "clear_caches"]   # clear_caches lives in _steps; benchmarks import it from here


# --- package access -------------------------------------------------------

class _Package:
    """Member lookup tolerant of leading slashes, backslashes and ``./``."""

    def __init__(self, members: Mapping[str, bytes]):
        self._m: dict[str, bytes] = {}
        self._lower: dict[str, str] = {}
        for name, data in members.items():
            n = _norm(name)
            if n and not n.endswith("/"):
                self._m[n] = data
                self._lower.setdefault(n.lower(), n)

    def get(self, path: str) -> bytes | None:
        n = _norm(path)
        if n in self._m:
            return self._m[n]
        alt = self._lower.get(n.lower())
        return self._m[alt] if alt is not None else None

    def names(self) -> list[str]:
        return list(self._m)


def _norm(name: str) -> str:
    n = name.replace("\\", "/").lstrip("/")
    if "./" in n or "//" in n or n.endswith("/.") or n.endswith("/.."):
        n = posixpath.normpath(n)
    return "" if n == "." else n


def _resolve(base_dir: str, ref: str, pkg: _Package) -> str:
    """An absolute path is from the package root; a relative one from the
    referring file's folder, falling back to the package root."""
    ref = ref.strip()
    if ref.startswith("/"):
        return _norm(ref)
    cand = _norm(posixpath.join(base_dir, ref))
    if pkg.get(cand) is not None:
        return cand
    root = _norm(ref)
    return root if pkg.get(root) is not None else cand


# --- public entry point -----------------------------------------------------

def verify_ofd(members: Mapping[str, bytes], *, trust_store: TrustStore | None = None,
               now: datetime | None = None) -> VerificationReport:
    """Verify every signature of an OFD package given as its zip members."""
    verified_at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    pkg = _Package(members)
    checks: list[Check] = []
    infos: list[SignatureInfo] = []

    lists, structure_checks = _signature_lists(pkg)
    checks += structure_checks
    entries = [(sig_list, el) for sig_list, root in lists for el in root.iter("Signature")]
    if not entries and not any(c.result == "fail" for c in checks):
        return VerificationReport("unsigned", tuple(checks), (), VERIFIER_VERSION, verified_at,
                                  trust_store.describe() if trust_store else None)

    for idx, (sig_list, el) in enumerate(entries):
        later = [e for (lst, e) in entries[idx + 1:] if lst == sig_list]
        sid = el.attr("ID") or str(idx)
        base = el.attr("BaseLoc") or ""
        loc = _resolve(posixpath.dirname(sig_list), base, pkg)
        sig_checks, info = _verify_one(pkg, sid, loc, sig_list, bool(later), trust_store)
        info_verdict = verdict_from_checks(sig_checks)
        infos.append(_with_verdict(info, info_verdict))
        checks += sig_checks

    verdict = verdict_from_checks(checks) if (entries or checks) else "unsigned"
    return VerificationReport(verdict, tuple(checks), tuple(infos), VERIFIER_VERSION,
                              verified_at, trust_store.describe() if trust_store else None)


def _signature_lists(pkg: _Package) -> tuple[list[tuple[str, El]], list[Check]]:
    """Find each document's Signatures.xml through OFD.xml (DocBody/Signatures)."""
    checks: list[Check] = []
    paths: list[str] = []
    ofd_xml = pkg.get("OFD.xml")
    if ofd_xml is not None:
        try:
            root = parse_xml(ofd_xml)
            for body in root.iter("DocBody"):
                s = body.find("Signatures")
                if s is not None and s.text:
                    paths.append(_resolve("", s.text, pkg))
        except XmlError as exc:
            checks.append(Check("ofd_structure", "warning", f"OFD.xml 无法解析: {exc}", file="OFD.xml"))
    if not paths:  # no (readable) entry point: look for the conventional place
        paths = sorted(n for n in pkg.names()
                       if posixpath.basename(n).lower() == "signatures.xml")
    out: list[tuple[str, El]] = []
    for p in dict.fromkeys(paths):
        data = pkg.get(p)
        if data is None:
            checks.append(Check("signature_list", "fail",
                                f"OFD.xml 指向的签名列表 {p} 不存在", file=p))
            continue
        try:
            out.append((p, parse_xml(data)))
        except XmlError as exc:
            checks.append(Check("signature_list", "fail", f"签名列表无法解析: {exc}", file=p))
    return out, checks


# --- one signature ----------------------------------------------------------


def _verify_one(pkg: _Package, sid: str, loc: str, sig_list: str, has_later: bool,
                trust_store: TrustStore | None) -> tuple[list[Check], SignatureInfo]:
    ctx = _Ctx(sid, [])
    info = SignatureInfo(id=sid, version=None, location=loc, signing_time=None,
                         signing_time_source=None, signature_method=None)
    sig_xml = pkg.get(loc)
    if sig_xml is None:
        ctx.add("signature_file", "fail", f"签名描述文件 {loc} 不存在", loc)
        return ctx.checks, info
    try:
        sroot = parse_xml(sig_xml)
    except XmlError as exc:
        ctx.add("signature_file", "fail", f"签名描述文件无法解析: {exc}", loc)
        return ctx.checks, info
    signed_info = sroot.find("SignedInfo") or sroot
    method_el = signed_info.find("SignatureMethod")
    method = method_el.text if method_el is not None else None
    time_el = signed_info.find("SignatureDateTime")
    xml_time = parse_time(time_el.text) if time_el is not None else None
    provider_el = signed_info.find("Provider")
    provider = None
    if provider_el is not None:
        provider = provider_el.attr("ProviderName") or (
            provider_el.find("ProviderName").text if provider_el.find("ProviderName") else None)

    # (1) references
    _check_references(pkg, ctx, signed_info, sig_list, has_later)

    # the signed value
    sv_el = sroot.find("SignedValue")
    sv_path = _resolve(posixpath.dirname(loc), sv_el.text, pkg) if sv_el is not None and sv_el.text else None
    sv = pkg.get(sv_path) if sv_path else None
    base_info = dict(id=sid, location=loc, signature_method=method, provider=provider)
    if sv is None:
        ctx.add("signed_value", "fail", f"签名值文件 {sv_path or '(未指定)'} 不存在", sv_path)
        return ctx.checks, SignatureInfo(version=None, signing_time=xml_time,
                                         signing_time_source="signature_xml" if xml_time else None,
                                         **base_info)
    try:
        parsed = parse_signed_value(sv)
    except SignedValueError as exc:
        ctx.add("signed_value", "fail", str(exc), sv_path)
        return ctx.checks, SignatureInfo(version=None, signing_time=xml_time,
                                         signing_time_source="signature_xml" if xml_time else None,
                                         **base_info)
    if isinstance(parsed, SignedData):
        return ctx.checks, _verify_signed_data(pkg, ctx, parsed, sig_xml, loc, sv_path,
                                               xml_time, base_info, trust_store)
    return ctx.checks, _verify_ses(pkg, ctx, parsed, sig_xml, loc, sv_path, xml_time,
                                   signed_info, base_info, trust_store)


def _check_references(pkg: _Package, ctx: _Ctx, signed_info: El, sig_list: str,
                      has_later: bool) -> None:
    refs_el = signed_info.find("References")
    if refs_el is None:
        ctx.add("references", "fail", "Signature.xml 没有 References：签名不保护任何文件")
        return
    method = (refs_el.attr("CheckMethod") or "").strip()
    refs = refs_el.findall("Reference")
    if not refs:
        ctx.add("references", "fail", "References 为空：签名不保护任何文件")
        return
    known = method.lower() in SM3_NAMES or method == ""
    if not known:
        ctx.add("digest_method", "fail",
                f"未知的摘要算法 CheckMethod={method!r}，无法校验被签文件 (unknown digest method)")
    for ref in refs:
        file_ref = ref.attr("FileRef") or ""
        path = _resolve("", file_ref, pkg)
        cv_el = ref.find("CheckValue")
        if not known:
            ctx.add("reference_digest", "not_checked",
                    f"摘要算法 {method!r} 未知，未校验", path)
            continue
        data = pkg.get(path)
        if data is None:
            ctx.add("reference_missing", "fail", f"被签文件 {file_ref} 不存在", path)
            continue
        try:
            expected = base64.b64decode((cv_el.text if cv_el is not None else ""), validate=False)
        except (binascii.Error, ValueError):
            expected = b""
        actual = sm.sm3(data)
        if actual == expected:
            ctx.add("reference_digest", "pass", "SM3 摘要一致", path)
        elif path == sig_list and has_later:
            ctx.add("reference_digest", "warning",
                    "签名列表 Signatures.xml 在本签名之后因追加签名而改变（多重签名的正常现象，非篡改）",
                    path)
        else:
            ctx.add("reference_digest", "fail",
                    f"文件 {path} 的 SM3 摘要与签名时不一致：签名后被修改 (tampered)", path)



def _verify_ses(pkg, ctx: _Ctx, s: SESSignature, sig_xml: bytes, loc: str, sv_path: str,
                xml_time, signed_info: El, base_info: dict, trust_store) -> SignatureInfo:
    # (2) dataHash
    if s.data_hash == sm.sm3(sig_xml):
        ctx.add("data_hash", "pass", "签名值中的 dataHash 与 Signature.xml 的 SM3 摘要一致", loc)
    else:
        ctx.add("data_hash", "fail",
                "签名值中的 dataHash 与 Signature.xml 的 SM3 摘要不一致：签名值不属于本签名描述文件", loc)
    if s.property_info and _norm(s.property_info) != _norm(loc):
        ctx.add("property_info", "warning",
                f"签名值的 propertyInfo ({s.property_info}) 与签名文件位置 /{loc} 不同", sv_path)

    # (3) signer signature over raw TBS
    signer = _cert(ctx, s.signer_cert, "signer", "签章者")
    _sm2_check(ctx, "signer_signature", "签章者对 TBS_Sign 的签名", signer, s.algorithm,
               s.tbs_raw, s.signature, sv_path, unused_bits=s.signature_unused_bits)

    # (4) seal
    seal = s.seal
    maker = None
    if seal is None:
        ctx.add("seal_structure", "fail", s.seal_error or "签名值中没有电子印章", sv_path)
    else:
        maker = _cert(ctx, seal.maker_cert, "seal_maker", "制章者")
        _verify_seal_signature(ctx, seal, maker, sv_path)
        _check_seal_binding(ctx, seal, s.signer_cert)

    # (5) certificates at signing time
    when = s.signing_time or xml_time
    if seal is not None:
        _validity(ctx, "seal_validity", "电子印章", seal.valid_start, seal.valid_end, when, trust_store)
    if signer is not None:
        _validity(ctx, "signer_cert_validity", "签章者证书", signer.not_before, signer.not_after,
                  when, trust_store)
    if maker is not None:
        _validity(ctx, "seal_maker_cert_validity", "制章者证书", maker.not_before, maker.not_after,
                  when, trust_store)
    _chain(ctx, "签章者证书", signer, when, trust_store)
    _chain(ctx, "制章者证书", maker, when, trust_store)

    return SignatureInfo(
        version=s.version, signing_time=when,
        signing_time_source="tbs" if s.signing_time else ("signature_xml" if xml_time else None),
        seal_name=seal.name if seal else None, seal_id=seal.es_id if seal else None,
        signer_certificate=signer.info("signer") if signer else None,
        seal_certificate=maker.info("seal_maker") if maker else None,
        **{**base_info, "signature_method": base_info.get("signature_method") or s.algorithm},
    )


def _check_seal_binding(ctx: _Ctx, seal: Seal, signer_cert: bytes) -> None:
    """The signer's certificate must be one the seal was made for (the list is
    inside SES_SealInfo, so covered by the seal maker's signature; the signer
    certificate itself is outside TBS_Sign)."""
    if seal.signer_certs:
        if signer_cert in seal.signer_certs:
            ctx.add("seal_signer_binding", "pass", "签章者证书在印章的签章者证书列表中")
        else:
            ctx.add("seal_signer_binding", "fail",
                    "签章者证书不在印章的签章者证书列表中：印章不是为该签章者制作的")
        return
    if seal.signer_cert_digests:
        for kind, value in seal.signer_cert_digests:
            k = kind.strip().lower()
            digest = (sm.sm3(signer_cert) if k in SM3_NAMES
                      else hashlib.new(k, signer_cert).digest() if k in {"sha1", "sha256"} else None)
            if digest is not None and digest == value:
                ctx.add("seal_signer_binding", "pass", f"签章者证书的 {kind} 摘要在印章的证书摘要列表中")
                return
        ctx.add("seal_signer_binding", "fail",
                "签章者证书的摘要不在印章的证书摘要列表中：印章不是为该签章者制作的")
        return
    ctx.add("seal_signer_binding", "warning", "印章没有列出签章者证书，无法确认印章与签章者的对应关系")


def _verify_seal_signature(ctx: _Ctx, seal: Seal, maker: ParsedCertificate | None,
                           sv_path: str) -> None:
    label = "制章者对印章信息 (SES_SealInfo) 的签名"
    if len(seal.signed_inputs) <= 1 or maker is None or seal.algorithm not in sm.SM2_SIGN_OIDS:
        _sm2_check(ctx, "seal_signature", label, maker, seal.algorithm,
                   seal.signed_inputs[0][1], seal.signed_value, sv_path, cached=True,
                   unused_bits=seal.signed_value_unused_bits)
        return
    # v1: the signed range differs between producers; try the standard one first
    try:
        der, form = sm.normalize_signature(seal.signed_value, seal.signed_value_unused_bits)
        for name, data in seal.signed_inputs:
            if _sm2_cached(maker.public_key, data, der):
                ctx.add("seal_signature", "pass", f"{label}：SM2 签名验证通过（签名原文: {name}）", sv_path)
                _encoding_warning(ctx, label, form, sv_path)
                return
    except ValueError as exc:
        ctx.add("seal_signature", "fail", f"{label}：签名值格式错误 ({exc})", sv_path)
        return
    ctx.add("seal_signature", "fail", f"{label}：SM2 签名验证失败", sv_path)


def _verify_signed_data(pkg, ctx: _Ctx, s: SignedData, sig_xml: bytes, loc: str,
                        sv_path: str, xml_time, base_info: dict, trust_store) -> SignatureInfo:
    if s.digest_algorithm not in sm.SM3_OIDS:
        ctx.add("digest_algorithm", "fail", f"SignedData 摘要算法 {s.digest_algorithm} 不是 SM3（无法验证）", sv_path)
    if s.message_digest is None:
        ctx.add("message_digest", "fail", "SignedData 没有 messageDigest 签名属性", sv_path)
    elif s.message_digest == sm.sm3(sig_xml):
        ctx.add("message_digest", "pass", "messageDigest 与 Signature.xml 的 SM3 摘要一致", loc)
    else:
        ctx.add("message_digest", "fail",
                "messageDigest 与 Signature.xml 的 SM3 摘要不一致：签名值不属于本签名描述文件", loc)
    if s.content_type and s.content_type != GBT35275_DATA:
        ctx.add("content_type", "warning", f"contentType 属性为 {s.content_type}", sv_path)
    signer = _cert(ctx, s.signer_cert, "signer", "签名者")
    message = s.signed_attrs_as_set if s.signed_attrs_raw is not None else sig_xml
    _sm2_check(ctx, "signer_signature", "签名者对签名属性 (SET OF Attribute) 的签名", signer,
               s.algorithm, message, s.signature, sv_path, unused_bits=s.signature_unused_bits)
    when = s.signing_time or xml_time
    if signer is not None:
        _validity(ctx, "signer_cert_validity", "签名者证书", signer.not_before, signer.not_after,
                  when, trust_store)
    others = tuple(pc for c in s.certificates if c != s.signer_cert
                   for pc in [_try_parse(c)] if pc is not None)
    _chain(ctx, "签名者证书", signer, when, trust_store, others)
    return SignatureInfo(
        version="gbt35275", signing_time=when,
        signing_time_source="signed_attributes" if s.signing_time else ("signature_xml" if xml_time else None),
        signer_certificate=signer.info("signer") if signer else None,
        **{**base_info, "signature_method": base_info.get("signature_method") or s.algorithm},
    )
