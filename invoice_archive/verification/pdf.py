"""Verification of the signatures in a PDF invoice (ISO 32000; docs/signatures.md).

Fully digital invoices (数电票) are also issued as PDF, signed by the tax
bureau. A PDF signature signs the bytes named by its ``/ByteRange``: the whole
file but the hex string that holds the signature (``/Contents``), which is a CMS
``SignedData`` (RFC 5652; ``adbe.pkcs7.detached`` / ``ETSI.CAdES.detached``).
Each signature is checked on its own, with the same codes as OFD signatures
where the check is the same:

1. ``byte_range``: starts at 0, the gap is exactly the ``<hex>`` Contents
   string, nothing past the end of the file; ``pdf_coverage``: whether bytes
   were appended after signing (an incremental update; normal when a later
   signature covers them, a warning otherwise);
2. ``content_digest``: the messageDigest attribute == the digest of the signed
   bytes (a mismatch means the file changed after signing: ``tampered``);
3. ``signer_signature``: SM2-with-SM3 (user ID 1234567812345678) through the
   same native code as OFD, or RSA PKCS#1 v1.5 / ECDSA with SHA-2 through
   ``cryptography``, over the DER SET OF signed attributes;
4. the signer certificate at signing time and its chain to the trust store.

No PDF parser is involved: the signature dictionaries are found by their
``/ByteRange`` in the raw bytes (the way the signed bytes are defined), so a
malformed page tree cannot hide or fake one.
"""
from __future__ import annotations

import binascii
import hashlib
import re
from datetime import datetime, timedelta, timezone

from . import _der, sm
from .certs import ParsedCertificate, TrustStore
from ._steps import _cert, _chain, _Ctx, _sm2_check, _try_parse, _validity, _with_verdict
from .report import VERIFIER_VERSION, Check, SignatureInfo, VerificationReport, verdict_from_checks
from .ses import SignedData, SignedValueError, parse_signed_value

MAX_SIGNATURES = 16
_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s*\]")
_HEX = re.compile(rb"<[0-9A-Fa-f\s]*>")
_PDF_DATE = re.compile(rb"/M\s*\(D:(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(Z|[+-]\d{2}'?\d{2}'?)?")
_SUBFILTER = re.compile(rb"/SubFilter\s*/([A-Za-z0-9.]+)")
_WINDOW = 4096   # how far around /ByteRange its dictionary's other keys are looked for

DIGESTS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
RSA_SIGNATURES = {
    "1.2.840.113549.1.1.1": None,   # rsaEncryption: the SignerInfo's digest algorithm decides
    "1.2.840.113549.1.1.5": "sha1",
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
}
ECDSA_SIGNATURES = {
    "1.2.840.10045.2.1": None,      # id-ecPublicKey given as the signature algorithm
    "1.2.840.10045.4.1": "sha1",
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}


def verify_pdf(data: bytes, *, trust_store: TrustStore | None = None,
               now: datetime | None = None) -> VerificationReport:
    """Verify every signature of a PDF; ``unsigned`` when it has none."""
    verified_at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    store = trust_store.describe() if trust_store else None
    found = _signatures(data)
    if not found:
        return VerificationReport("unsigned", (), (), VERIFIER_VERSION, verified_at, store)
    checks: list[Check] = []
    infos: list[SignatureInfo] = []
    if len(found) > MAX_SIGNATURES:
        checks.append(Check("signature_list", "warning",
                            f"PDF 含 {len(found)} 个签名，只校验了最后 {MAX_SIGNATURES} 个"))
        found = found[-MAX_SIGNATURES:]
    covered_to = max(c + d for (_a, _b, c, d), _ in found)
    for n, (ranges, at) in enumerate(found, start=1):
        sig_checks, info = _verify_one(data, str(n), ranges, at, covered_to, trust_store)
        checks += sig_checks
        infos.append(_with_verdict(info, verdict_from_checks(sig_checks)))
    return VerificationReport(verdict_from_checks(checks), tuple(checks), tuple(infos), VERIFIER_VERSION,
                              verified_at, store)


def _signatures(data: bytes) -> list[tuple[tuple[int, int, int, int], int]]:
    """(byte range, offset of /ByteRange) of each signature, in signing order.

    Only ranges whose gap is a hex string count: a ``/ByteRange`` in a content
    stream or a comment names no signed bytes."""
    out = []
    for count, m in enumerate(_BYTE_RANGE.finditer(data)):
        if count >= 4 * MAX_SIGNATURES:   # a file full of decoys costs a bounded scan
            break
        a, b, c, d = (int(x) for x in m.groups())
        if b < c and data[b:b + 1] == b"<":
            out.append(((a, b, c, d), m.start()))
    # one signature per range: a copy of a dictionary (e.g. an older revision of the same
    # signature field) names the same signed bytes and is not checked twice
    unique = {ranges: at for ranges, at in out}
    return sorted(unique.items(), key=lambda item: item[0][2] + item[0][3])


def _verify_one(data: bytes, sid: str, ranges: tuple[int, int, int, int], at: int, covered_to: int,
                trust_store: TrustStore | None) -> tuple[list[Check], SignatureInfo]:
    ctx = _Ctx(sid, [])
    a, b, c, d = ranges
    location = f"/ByteRange [{a} {b} {c} {d}]"
    window = data[max(0, at - _WINDOW): at + _WINDOW]
    subfilter = _SUBFILTER.search(window)
    info = SignatureInfo(id=sid, version=None, location=location, signing_time=None,
                         signing_time_source=None,
                         signature_method=subfilter.group(1).decode("ascii") if subfilter else None)
    end = c + d
    if a != 0 or end > len(data) or b > c:
        ctx.add("byte_range", "fail", f"签名范围 {location} 不合法（须从文件开头起，且不超出文件长度 {len(data)}）")
        return ctx.checks, info
    gap = data[b:c]
    if not _HEX.fullmatch(gap):
        ctx.add("byte_range", "fail", f"签名范围 {location} 留出的不是签名值（/Contents 十六进制串）")
        return ctx.checks, info
    ctx.add("byte_range", "pass", f"签名范围 {location} 覆盖签名值以外的全部签名时内容")
    if end == len(data):
        ctx.add("pdf_coverage", "pass", "签名覆盖整个文件：签名后未追加任何内容")
    elif covered_to >= len(data) and end < covered_to:
        ctx.add("pdf_coverage", "warning",
                f"签名后文件有增量更新（{len(data) - end} 字节），由后一个签名覆盖（多重签名的正常现象）")
    else:
        ctx.add("pdf_coverage", "warning",
                f"签名后文件被追加了 {len(data) - end} 字节（增量更新），追加的内容未经签名：显示的票面可能与签名时不同")
    try:
        raw = binascii.unhexlify(b"".join(gap[1:-1].split()))
        node = _der.parse(raw)
        if raw[node.end:].strip(b"\x00"):
            raise SignedValueError("签名值之后有多余的数据")
        signed = parse_signed_value(raw[:node.end])
    except (binascii.Error, ValueError) as exc:   # DerError and SignedValueError are ValueErrors
        ctx.add("signed_value", "fail", f"签名值 (/Contents) 不是可解析的 CMS SignedData: {exc}")
        return ctx.checks, info
    if not isinstance(signed, SignedData):
        ctx.add("signed_value", "fail", "签名值 (/Contents) 不是 CMS SignedData")
        return ctx.checks, info

    content = data[a:b] + data[c:end]
    digest = _digest(signed.digest_algorithm, content)
    if digest is None:
        ctx.add("digest_algorithm", "fail", f"摘要算法 {signed.digest_algorithm} 不受支持（无法验证）")
    elif signed.message_digest is None:
        ctx.add("message_digest", "fail", "SignedData 没有 messageDigest 签名属性")
    elif signed.message_digest == digest:
        ctx.add("content_digest", "pass", "messageDigest 与签名范围内文件内容的摘要一致")
    else:
        ctx.add("content_digest", "fail", "签名范围内的文件内容与签名时的摘要 (messageDigest) 不一致：文件在签名后被修改 (tampered)")

    signer = _cert(ctx, signed.signer_cert, "signer", "签名者")
    message = signed.signed_attrs_as_set if signed.signed_attrs_raw is not None else content
    label = "签名者对签名属性 (SET OF Attribute) 的签名"
    if signed.algorithm in sm.SM2_SIGN_OIDS:
        _sm2_check(ctx, "signer_signature", label, signer, signed.algorithm, message, signed.signature, None)
    else:
        _other_check(ctx, label, signer, signed, message)

    when = signed.signing_time
    source = "signed_attributes" if when else None
    if when is None:
        when = _pdf_time(window)
        source = "pdf_signature_dictionary" if when else None
    if signer is not None:
        _validity(ctx, "signer_cert_validity", "签名者证书", signer.not_before, signer.not_after, when,
                  trust_store)
    others = tuple(pc for cert in signed.certificates if cert != signed.signer_cert
                   for pc in [_try_parse(cert)] if pc is not None)
    _chain(ctx, "签名者证书", signer, when, trust_store, others)
    return ctx.checks, SignatureInfo(
        id=sid, version="pkcs7", location=location, signing_time=when, signing_time_source=source,
        signature_method=info.signature_method or signed.algorithm,
        signer_certificate=signer.info("signer") if signer else None,
    )


def _digest(oid: str, content: bytes) -> bytes | None:
    if oid in sm.SM3_OIDS:
        return sm.sm3(content)
    name = DIGESTS.get(oid)
    return hashlib.new(name, content).digest() if name else None


def _other_check(ctx: _Ctx, label: str, signer: ParsedCertificate | None, signed: SignedData,
                 message: bytes) -> None:
    """RSA PKCS#1 v1.5 and ECDSA signatures, through ``cryptography``."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    algorithm = signed.algorithm
    if algorithm in RSA_SIGNATURES:
        hash_name = RSA_SIGNATURES[algorithm] or DIGESTS.get(signed.digest_algorithm)
    elif algorithm in ECDSA_SIGNATURES:
        hash_name = ECDSA_SIGNATURES[algorithm] or DIGESTS.get(signed.digest_algorithm)
    else:
        hash_name = None
    if hash_name is None:
        ctx.add("signer_signature", "fail", f"{label}：不支持的签名算法 {algorithm}（无法验证）")
        return
    if signer is None:
        ctx.add("signer_signature", "fail", f"{label}：没有可用的证书，无法验证")
        return
    chosen = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
              "sha512": hashes.SHA512}[hash_name]()
    try:
        key = x509.load_der_x509_certificate(signer.der).public_key()
        if algorithm in RSA_SIGNATURES and isinstance(key, rsa.RSAPublicKey):
            key.verify(signed.signature, message, padding.PKCS1v15(), chosen)
        elif algorithm in ECDSA_SIGNATURES and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signed.signature, message, ec.ECDSA(chosen))
        else:
            ctx.add("signer_signature", "fail", f"{label}：证书公钥与签名算法 {algorithm} 不匹配")
            return
    except InvalidSignature:
        ctx.add("signer_signature", "fail", f"{label}：{hash_name.upper()} 签名验证失败")
        return
    except ValueError as exc:
        ctx.add("signer_signature", "fail", f"{label}：证书或签名值无法使用 ({exc})")
        return
    ctx.add("signer_signature", "pass", f"{label}：{'RSA' if algorithm in RSA_SIGNATURES else 'ECDSA'}-"
                                        f"{hash_name.upper()} 签名验证通过")


def _pdf_time(window: bytes) -> datetime | None:
    """The /M entry of the signature dictionary (D:YYYYMMDDHHmmSS+08'00'): unsigned, so weaker."""
    m = _PDF_DATE.search(window)
    if m is None:
        return None
    try:
        when = datetime(*(int(m.group(i)) for i in range(1, 7)))
    except ValueError:
        return None
    zone = (m.group(7) or b"Z").replace(b"'", b"")
    if zone == b"Z":
        return when.replace(tzinfo=timezone.utc)
    sign = -1 if zone[:1] == b"-" else 1
    offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5] or 0))
    return when.replace(tzinfo=timezone(sign * offset)).astimezone(timezone.utc)
