"""Checks shared by the OFD and PDF verifiers: the per-signature check list,
certificates, SM2 (with a memo for seals), validity at signing time and chains."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from . import sm
from .certs import CertificateError, ChainStatus, ParsedCertificate, TrustStore, parse_certificate
from .report import Check, SignatureInfo


@dataclass
class _Ctx:
    sid: str
    checks: list[Check]

    def add(self, code: str, result: str, detail: str, file: str | None = None) -> None:
        self.checks.append(Check(code, result, detail, self.sid, file))


def _with_verdict(info: SignatureInfo, verdict: str) -> SignatureInfo:
    return replace(info, verdict=verdict)


def _cert(ctx: _Ctx, der: bytes, role: str, label: str) -> ParsedCertificate | None:
    try:
        return parse_certificate(der)
    except CertificateError as exc:
        ctx.add(f"{role}_certificate", "fail", f"{label}证书无法解析: {exc}")
        return None


_SEAL_CACHE: OrderedDict[tuple[bytes, bytes, bytes], bool] = OrderedDict()
_SEAL_CACHE_SIZE = 256
_SEAL_LOCK = threading.Lock()


def _sm2_cached(pub: bytes, message: bytes, signature: bytes) -> bool:
    """Memoised SM2 verification for seals: a seal is the same bytes in every
    invoice its owner issues.  Pure function of its inputs, so safe to cache.
    ``signature`` is canonical DER (:func:`sm.normalize_signature`)."""
    key = (pub, signature, message)
    with _SEAL_LOCK:
        hit = _SEAL_CACHE.get(key)
        if hit is not None:
            _SEAL_CACHE.move_to_end(key)
            return hit
    ok = sm.sm2_verify_der(pub, message, signature)
    with _SEAL_LOCK:
        _SEAL_CACHE[key] = ok
        if len(_SEAL_CACHE) > _SEAL_CACHE_SIZE:
            _SEAL_CACHE.popitem(last=False)
    return ok


def clear_caches() -> None:
    """Forget memoised seal verifications and parsed certificates (benchmarks)."""
    with _SEAL_LOCK:
        _SEAL_CACHE.clear()
    parse_certificate.cache_clear()


def _sm2_check(ctx: _Ctx, code: str, label: str, cert: ParsedCertificate | None,
               algorithm: str, message: bytes, signature: bytes, file: str | None,
               cached: bool = False, unused_bits: int = 0) -> bool:
    """One SM2 signature.  A value written in a non-canonical encoding is
    read leniently and verified exactly; the quirk is reported as a separate
    ``signature_encoding`` warning, never as a failure (docs/signatures.md)."""
    if algorithm not in sm.SM2_SIGN_OIDS:
        ctx.add(code, "fail", f"{label}：不支持的签名算法 {algorithm}（无法验证）", file)
        return False
    if cert is None:
        ctx.add(code, "fail", f"{label}：没有可用的证书，无法验证", file)
        return False
    if len(cert.public_key) != 64:
        ctx.add(code, "fail", f"{label}：证书公钥不是 SM2 公钥", file)
        return False
    try:
        der, form = sm.normalize_signature(signature, unused_bits)
        ok = (_sm2_cached if cached else sm.sm2_verify_der)(cert.public_key, message, der)
    except ValueError as exc:
        ctx.add(code, "fail", f"{label}：签名值格式错误 ({exc})", file)
        return False
    notes = _encoding_notes(form)
    note = f"（{notes}）" if notes else ""
    if ok:
        ctx.add(code, "pass", f"{label}：SM2 签名验证通过{note}", file)
        _encoding_warning(ctx, label, form, file)
    else:
        ctx.add(code, "fail", f"{label}：SM2 签名验证失败{note}", file)
    return ok


def _encoding_notes(form: str) -> str:
    return "；".join(sm.ENCODING_NOTES[f] for f in form.split("+") if f in sm.ENCODING_NOTES)


def _encoding_warning(ctx: _Ctx, label: str, form: str, file: str | None) -> None:
    """A verified signature written in a non-canonical encoding: a warning."""
    if any(f in sm.QUIRK_FORMS for f in form.split("+")):
        ctx.add("signature_encoding", "warning",
                f"{label}：{_encoding_notes(form)}。数学验证通过；编码不规范，请告知开具方", file)


def _validity(ctx: _Ctx, code: str, label: str, start: datetime | None,
              end: datetime | None, when: datetime | None,
              trust_store: TrustStore | None) -> None:
    """A validity period at signing time.  Validity is part of the trust
    evaluation: without a configured trust store a violation is reported
    (``not_checked``, with the finding in the detail) but does not decide
    the verdict; with one it fails."""
    if start is None and end is None:
        return
    period = f"[{_d(start)} .. {_d(end)}]"
    if when is None:
        ctx.add(code, "warning", f"{label}：没有签名时间，无法判断签名时是否在有效期内 {period}")
        return
    if (start is None or start <= when) and (end is None or when <= end):
        ctx.add(code, "pass", f"{label}在签名时 ({when.isoformat()}) 有效 {period}")
        return
    finding = f"{label}在签名时 ({when.isoformat()}) 不在有效期内 {period}"
    if trust_store is None:
        ctx.add(code, "not_checked", finding + "；未配置信任库，有效期不参与判定")
    else:
        ctx.add(code, "fail", finding)


def _chain(ctx: _Ctx, label: str, cert: ParsedCertificate | None, when: datetime | None,
           trust_store: TrustStore | None, extra: tuple[ParsedCertificate, ...] = ()) -> None:
    if cert is None:
        return
    if trust_store is None:
        ctx.add(ChainStatus.NOT_CHECKED.value, "not_checked",
                f"{label}链未检查：未配置信任库 (verification.trust_store)")
        return
    res = trust_store.verify(cert, when or datetime.now(timezone.utc), extra)
    result = {ChainStatus.VALID: "pass", ChainStatus.ROOT_UNTRUSTED: "warning",
              ChainStatus.INVALID: "fail"}[res.status]
    ctx.add(res.status.value, result, f"{label}: {res.detail}")


def _d(x: datetime | None) -> str:
    return x.isoformat() if x else "?"


def _try_parse(der: bytes) -> ParsedCertificate | None:
    try:
        return parse_certificate(der)
    except CertificateError:
        return None
