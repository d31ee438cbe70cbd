"""The verification report: plain, frozen, JSON-able data."""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

VERIFIER_VERSION = "invoice-archive-verifier/1.0"

Verdict = Literal["valid", "valid_with_warning", "tampered", "invalid", "unsigned",
                  "present_not_verifiable"]
CheckResult = Literal["pass", "fail", "warning", "not_checked"]

VERDICTS = frozenset({"valid", "valid_with_warning", "tampered", "invalid", "unsigned",
                      "present_not_verifiable"})
RESULTS = frozenset({"pass", "fail", "warning", "not_checked"})

# A failed check with one of these codes means a signed file changed after
# signing ("tampered"); any other failed check means the signature itself does
# not hold ("invalid").
TAMPER_CODES = frozenset({"reference_digest", "reference_missing", "content_digest"})


@dataclass(frozen=True, slots=True)
class Check:
    code: str
    result: CheckResult
    detail: str = ""
    signature: str | None = None
    file: str | None = None

    def __post_init__(self) -> None:
        if self.result not in RESULTS:
            raise ValueError(f"unknown check result {self.result!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "result": self.result, "detail": self.detail,
                "signature": self.signature, "file": self.file}


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """A certificate as found in a signature (DER kept for the archive)."""
    role: str                    # "signer" | "seal_maker"
    subject: str
    issuer: str
    subject_cn: str | None
    issuer_cn: str | None
    serial: str                  # hex
    not_before: datetime | None
    not_after: datetime | None
    signature_algorithm: str | None
    sha256: str                  # hex fingerprint of the DER
    der: bytes = field(repr=False)

    @property
    def der_base64(self) -> str:
        return base64.b64encode(self.der).decode("ascii")

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role, "subject": self.subject, "issuer": self.issuer,
            "subject_cn": self.subject_cn, "issuer_cn": self.issuer_cn,
            "serial": self.serial,
            "not_before": _iso(self.not_before), "not_after": _iso(self.not_after),
            "signature_algorithm": self.signature_algorithm,
            "sha256": self.sha256, "der_base64": self.der_base64,
        }


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    id: str
    version: str | None              # "v1" | "v4" | "v5" | "gbt35275" | "pkcs7" (PDF) | None (unreadable)
    location: str | None             # Signature.xml path inside the package; a PDF's /ByteRange
    signing_time: datetime | None    # from the signed data when present
    signing_time_source: str | None  # "tbs" | "signed_attributes" | "signature_xml" | "pdf_signature_dictionary"
    signature_method: str | None     # OID from Signature.xml / the signed value
    provider: str | None = None
    seal_name: str | None = None
    seal_id: str | None = None
    signer_certificate: CertificateInfo | None = None
    seal_certificate: CertificateInfo | None = None
    verdict: str | None = None       # this signature's own verdict

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "version": self.version, "location": self.location,
            "signing_time": _iso(self.signing_time),
            "signing_time_source": self.signing_time_source,
            "signature_method": self.signature_method, "provider": self.provider,
            "seal_name": self.seal_name, "seal_id": self.seal_id,
            "signer_certificate": self.signer_certificate.to_dict() if self.signer_certificate else None,
            "seal_certificate": self.seal_certificate.to_dict() if self.seal_certificate else None,
            "verdict": self.verdict,
        }


@dataclass(frozen=True, slots=True)
class VerificationReport:
    verdict: Verdict
    checks: tuple[Check, ...]
    signatures: tuple[SignatureInfo, ...]
    verifier_version: str
    verified_at: datetime
    trust_store: str | None = None   # description of the trust store used, if any

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.result == "fail")

    @property
    def warnings(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.result == "warning")

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "checks": [c.to_dict() for c in self.checks],
            "signatures": [s.to_dict() for s in self.signatures],
            "verifier_version": self.verifier_version,
            "verified_at": _iso(self.verified_at),
            "trust_store": self.trust_store,
        }


def verdict_from_checks(checks: tuple[Check, ...] | list[Check]) -> Verdict:
    """invalid beats tampered (an invalid signature cannot vouch for its
    digests); any warning turns valid into valid_with_warning."""
    fails = [c for c in checks if c.result == "fail"]
    if any(c.code not in TAMPER_CODES for c in fails):
        return "invalid"
    if fails:
        return "tampered"
    if any(c.result == "warning" for c in checks):
        return "valid_with_warning"
    return "valid"


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d is not None else None
