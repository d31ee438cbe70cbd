"""The bundle key's X.509 certificate, as a DA/T 48 EEP carries it in 证书.

An EEP's 证书 holds a certificate, not a bare key (docs/standards.md). The
operator may give one issued by their own CA for the bundle key
(``bundle.certificate``, a PEM file); otherwise the service makes a self-signed
one at start-up:

* Ed25519 keys: built and signed with :mod:`cryptography` (RFC 8410).
* SM2 keys: the TBSCertificate is written with :mod:`asn1crypto` and signed
  SM2-with-SM3 (OID 1.2.156.10197.1.501, GM/T 0015) with the key itself.

The serial number comes from the key's fingerprint and the validity runs from
2000-01-01 to 9999-12-31 (RFC 5280's "no well-defined expiration"), so an
Ed25519 key always gets the same certificate byte for byte; an SM2 signature is
randomised, so an SM2 certificate is made once, at start-up.
:func:`read_certificate` reads either kind back: the key inside, the issuer,
the validity and, for a self-signed certificate, whether its signature holds.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from asn1crypto import keys as _keys
from asn1crypto import x509 as _x509

from .signing import (
    ED25519, SM2_SM3, ManifestSigner, SigningKeyError, _pem, _pem_body, key_fingerprint, verify_signature,
)

SM2_WITH_SM3 = "1.2.156.10197.1.501"
ED25519_OID = "1.3.101.112"
NOT_BEFORE = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
NOT_AFTER = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class CertificateFacts:
    subject: str
    issuer: str
    serial: str                    # hex
    not_before: dt.datetime
    not_after: dt.datetime
    public_key_pem: bytes
    signature_algorithm: str       # dotted OID
    self_signed: bool
    self_signature_ok: bool | None  # None: not self-signed (the issuer's key is needed)

    def covers(self, when: dt.datetime) -> bool:
        return self.not_before <= when <= self.not_after


def _subject_name(signer: ManifestSigner, common_name: str | None) -> str:
    return common_name or f"invoice-archive bundle key {signer.key_id()[:16]}"


def self_signed_certificate(signer: ManifestSigner, common_name: str | None = None) -> bytes:
    """A self-signed X.509 certificate (DER) for the signer's key."""
    name = _subject_name(signer, common_name)
    serial = int(signer.key_id()[:30], 16) or 1
    if signer.algorithm == ED25519:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.x509.oid import NameOID

        key = getattr(signer, "_key")
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "invoice-archive")])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(serial)
                .not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             key_cert_sign=False, crl_sign=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .sign(key, None))
        return cert.public_bytes(serialization.Encoding.DER)
    if signer.algorithm == SM2_SM3:
        return _sm2_self_signed(signer, name, serial)
    raise SigningKeyError(f"不支持的签名算法 {signer.algorithm}")


def _sm2_self_signed(signer: ManifestSigner, name: str, serial: int) -> bytes:
    subject = _x509.Name.build({"common_name": name, "organization_name": "invoice-archive"}, use_printable=False)
    algorithm = _x509.SignedDigestAlgorithm({"algorithm": SM2_WITH_SM3})
    spki = _keys.PublicKeyInfo.load(_pem_body(signer.public_key_pem(), "PUBLIC KEY"))
    tbs = _x509.TbsCertificate({
        "version": "v3",
        "serial_number": serial,
        "signature": algorithm,
        "issuer": subject,
        "validity": _x509.Validity({"not_before": _x509.Time({"utc_time": NOT_BEFORE}),
                                    "not_after": _x509.Time({"general_time": NOT_AFTER})}),
        "subject": subject,
        "subject_public_key_info": spki,
        "extensions": [
            {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": False}},
            {"extn_id": "key_usage", "critical": True,
             "extn_value": _x509.KeyUsage({"digital_signature", "non_repudiation"})},
        ],
    })
    signature = signer.sign(tbs.dump())
    return _x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": algorithm,
                              "signature_value": signature}).dump()


def read_certificate(der: bytes) -> CertificateFacts:
    """What an X.509 certificate says; SigningKeyError when it is not one."""
    try:
        cert = _x509.Certificate.load(der, strict=True)
        tbs = cert["tbs_certificate"]
        spki_pem = _pem(tbs["subject_public_key_info"].dump(), "PUBLIC KEY")
        algorithm = cert["signature_algorithm"]["algorithm"].dotted
        subject, issuer = tbs["subject"].human_friendly, tbs["issuer"].human_friendly
        validity = tbs["validity"]
        not_before, not_after = validity["not_before"].native, validity["not_after"].native
        serial = format(tbs["serial_number"].native, "x")
        self_signed = tbs["subject"] == tbs["issuer"]
        tbs_bytes, signature = tbs.dump(), cert["signature_value"].native
    except SigningKeyError:
        raise
    except Exception as exc:
        raise SigningKeyError(f"证书无法读取: {exc}") from None
    ok: bool | None = None
    if self_signed:
        kind = {ED25519_OID: ED25519, SM2_WITH_SM3: SM2_SM3}.get(algorithm)
        try:
            ok = kind is not None and verify_signature(spki_pem, kind, tbs_bytes, signature)
        except SigningKeyError:
            ok = False
    return CertificateFacts(subject=subject, issuer=issuer, serial=serial, not_before=not_before,
                            not_after=not_after, public_key_pem=spki_pem, signature_algorithm=algorithm,
                            self_signed=self_signed, self_signature_ok=ok)


def load_certificate(path: str | Path, signer: ManifestSigner) -> bytes:
    """The operator's certificate for the bundle key (PEM or DER file), checked to
    certify that very key; SigningKeyError otherwise."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"证书文件 {path} 无法读取: {exc.strerror or exc}") from None
    der = _pem_body(raw, "CERTIFICATE") if b"-----BEGIN" in raw else raw
    facts = read_certificate(der)
    if key_fingerprint(facts.public_key_pem) != signer.key_id():
        raise SigningKeyError(f"证书 {path} 中的公钥不是签名私钥（bundle.signing_key）对应的公钥")
    return der


def certificate_for(signer: ManifestSigner, path: str | Path | None) -> bytes:
    """The certificate the EEPs carry: the operator's (``bundle.certificate``) or a self-signed one."""
    return load_certificate(path, signer) if path else self_signed_certificate(signer)


def certificate_pem(der: bytes) -> bytes:
    return _pem(der, "CERTIFICATE")


__all__ = ["CertificateFacts", "certificate_for", "certificate_pem", "load_certificate", "read_certificate",
           "self_signed_certificate"]
