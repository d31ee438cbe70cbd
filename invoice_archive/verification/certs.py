"""Certificates: reading them (pyOpenSSL) and validating chains to a trust store.

Chains are validated **at signing time** (``X509Store.set_time``): the
certificates in e-invoices expire after a few years while the invoice must
stay verifiable for 30.
"""
from __future__ import annotations

import enum
import hashlib
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from cryptography.x509.oid import NameOID
from OpenSSL import crypto

from . import _der
from .report import CertificateInfo

CERT_SUFFIXES = {".pem", ".crt", ".cer", ".der", ".cert"}

# OpenSSL X509_V_ERR_* meaning "I could not find (or do not trust) the top of the chain"
_ROOT_MISSING = {
    2,   # unable to get issuer certificate
    18,  # self-signed certificate (depth 0), not trusted
    19,  # self-signed certificate in chain, not trusted
    20,  # unable to get local issuer certificate
    21,  # unable to verify the first certificate
}


class CertificateError(ValueError):
    pass


class ParsedCertificate:
    """A parsed certificate.  Fields are read with ``cryptography`` (which
    parses SM2 certificates fine); the pyOpenSSL ``X509`` used for chain
    validation is loaded on first use only."""

    __slots__ = ("info_subject", "info_issuer", "subject_cn", "issuer_cn", "serial",
                 "not_before", "not_after", "signature_algorithm", "public_key",
                 "key_algorithm", "der", "_x509")

    def __init__(self, *, info_subject: str, info_issuer: str, subject_cn: str | None,
                 issuer_cn: str | None, serial: int, not_before: datetime | None,
                 not_after: datetime | None, signature_algorithm: str | None,
                 public_key: bytes, key_algorithm: str | None, der: bytes,
                 x509: crypto.X509 | None = None):
        self.info_subject = info_subject
        self.info_issuer = info_issuer
        self.subject_cn = subject_cn
        self.issuer_cn = issuer_cn
        self.serial = serial
        self.not_before = not_before
        self.not_after = not_after
        self.signature_algorithm = signature_algorithm
        self.public_key = public_key      # 64-byte SM2 point (x || y), b"" if not EC
        self.key_algorithm = key_algorithm  # curve OID
        self.der = der
        self._x509 = x509

    @property
    def x509(self) -> crypto.X509:
        if self._x509 is None:
            try:
                self._x509 = crypto.load_certificate(crypto.FILETYPE_ASN1, self.der)
            except crypto.Error as exc:
                raise CertificateError(f"OpenSSL 无法加载证书: {exc}") from None
        return self._x509

    def __repr__(self) -> str:
        return f"<ParsedCertificate {self.info_subject!r} serial={self.serial:x}>"

    @property
    def self_signed(self) -> bool:
        return self.info_subject == self.info_issuer

    def info(self, role: str) -> CertificateInfo:
        return CertificateInfo(
            role=role, subject=self.info_subject, issuer=self.info_issuer,
            subject_cn=self.subject_cn, issuer_cn=self.issuer_cn,
            serial=format(self.serial, "x"), not_before=self.not_before,
            not_after=self.not_after, signature_algorithm=self.signature_algorithm,
            sha256=hashlib.sha256(self.der).hexdigest(), der=self.der,
        )

    def valid_at(self, when: datetime) -> bool:
        return (self.not_before is None or self.not_before <= when) and \
               (self.not_after is None or when <= self.not_after)


def _name(name) -> tuple[str, str | None]:
    try:
        text = name.rfc4514_string()
    except Exception:  # pragma: no cover - exotic attribute types
        text = repr(name)
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return text, (str(cns[0].value) if cns else None)


def _spki_point(der: bytes) -> tuple[bytes, str | None]:
    """Extract the EC public point from the certificate's SubjectPublicKeyInfo."""
    tbs = _der.parse_all(der).children()[0].children()
    i = 1 if tbs[0].cls == _der.CONTEXT and tbs[0].tag == 0 else 0
    spki = tbs[i + 5].children()
    alg = spki[0].children()
    curve = alg[1].as_oid() if len(alg) > 1 and alg[1].is_(_der.OID) else None
    bits = spki[1].as_bits()
    if len(bits) == 65 and bits[0] == 4:
        return bits[1:], curve
    if len(bits) == 64:
        return bits, curve
    return b"", curve


_SIG_ALG_NAMES = {
    "1.2.156.10197.1.501": "SM2-with-SM3",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
}


@lru_cache(maxsize=512)
def parse_certificate(der: bytes) -> ParsedCertificate:
    """Parse a DER (or PEM) certificate.  Cached: the same issuer certificates
    appear in thousands of invoices."""
    from cryptography import x509 as cx509
    try:
        if der.lstrip().startswith(b"-----BEGIN"):
            c = cx509.load_pem_x509_certificate(der)
            from cryptography.hazmat.primitives.serialization import Encoding
            der = c.public_bytes(Encoding.DER)
        else:
            c = cx509.load_der_x509_certificate(der)
        with warnings.catch_warnings():
            # real tax-bureau certificates carry CNs longer than X.520's 64
            warnings.simplefilter("ignore", UserWarning)
            subject, subject_cn = _name(c.subject)
            issuer, issuer_cn = _name(c.issuer)
        nb, na = c.not_valid_before_utc, c.not_valid_after_utc
        serial = c.serial_number
        sig_oid = c.signature_algorithm_oid.dotted_string
    except Exception as exc:  # cryptography raises ValueError and friends
        raise CertificateError(f"证书无法解析: {exc}") from None
    try:
        point, curve = _spki_point(der)
    except (_der.DerError, IndexError, ValueError) as exc:
        raise CertificateError(f"证书公钥无法读取: {exc}") from None
    return ParsedCertificate(
        info_subject=subject, info_issuer=issuer, subject_cn=subject_cn,
        issuer_cn=issuer_cn, serial=serial, not_before=nb, not_after=na,
        signature_algorithm=_SIG_ALG_NAMES.get(sig_oid, sig_oid), public_key=point,
        key_algorithm=curve, der=der,
    )


class ChainStatus(str, enum.Enum):
    VALID = "chain_valid"
    ROOT_UNTRUSTED = "chain_root_untrusted"
    INVALID = "chain_invalid"
    NOT_CHECKED = "chain_not_checked"


@dataclass(frozen=True, slots=True)
class ChainResult:
    status: ChainStatus
    detail: str
    chain: tuple[str, ...] = ()   # subjects, leaf first, when verified


def _split_pem(data: bytes) -> list[bytes]:
    out, cur = [], []
    inside = False
    for line in data.splitlines(keepends=True):
        if line.startswith(b"-----BEGIN CERTIFICATE"):
            inside, cur = True, [line]
        elif line.startswith(b"-----END CERTIFICATE") and inside:
            cur.append(line)
            out.append(b"".join(cur))
            inside = False
        elif inside:
            cur.append(line)
    return out


class TrustStore:
    """Trusted roots (self-signed) plus known intermediates.

    The service builds one from the ``verification.trust_store`` setting;
    tests build one from a temporary directory.
    """

    def __init__(self, certificates: Iterable[bytes | ParsedCertificate], *, source: str = "memory"):
        self.roots: list[ParsedCertificate] = []
        self.intermediates: list[ParsedCertificate] = []
        for c in certificates:
            pc = c if isinstance(c, ParsedCertificate) else parse_certificate(c)
            (self.roots if pc.self_signed else self.intermediates).append(pc)
        self.source = source

    @classmethod
    def from_directory(cls, path: str | Path) -> TrustStore:
        p = Path(path)
        if not p.is_dir():
            raise FileNotFoundError(f"trust store directory not found: {p}")
        certs: list[bytes] = []
        for f in sorted(p.iterdir()):
            if not f.is_file() or f.suffix.lower() not in CERT_SUFFIXES:
                continue
            data = f.read_bytes()
            pems = _split_pem(data) if b"-----BEGIN" in data else [data]
            for one in pems:
                try:
                    parse_certificate(one)
                except CertificateError as exc:
                    raise CertificateError(f"{f.name}: {exc}") from None
                certs.append(one)
        return cls(certs, source=str(p))

    def describe(self) -> str:
        return f"{self.source} ({len(self.roots)} roots, {len(self.intermediates)} intermediates)"

    def verify(self, cert: ParsedCertificate, at: datetime,
               extra: Iterable[ParsedCertificate] = ()) -> ChainResult:
        """Validate ``cert`` to a trusted root as of time ``at``."""
        store = crypto.X509Store()
        for r in self.roots:
            store.add_cert(r.x509)
        store.set_time(at.astimezone(timezone.utc).replace(tzinfo=None))
        untrusted = [c.x509 for c in self.intermediates] + [c.x509 for c in extra]
        ctx = crypto.X509StoreContext(store, cert.x509, untrusted)
        try:
            chain = ctx.get_verified_chain()
        except crypto.X509StoreContextError as exc:
            code = exc.errors[0] if exc.errors else -1
            msg = exc.errors[2] if len(exc.errors) > 2 else str(exc)
            depth = exc.errors[1] if len(exc.errors) > 1 else "?"
            if code in _ROOT_MISSING:
                return ChainResult(ChainStatus.ROOT_UNTRUSTED,
                                   f"证书链无法验证：根证书不在信任库中 (chain not verifiable: "
                                   f"root not in trust store; OpenSSL: {msg}, depth {depth})")
            return ChainResult(ChainStatus.INVALID,
                               f"证书链无效 (chain invalid; OpenSSL error {code}: {msg}, depth {depth})")
        subjects = []
        for c in chain:
            try:
                subjects.append(parse_certificate(crypto.dump_certificate(crypto.FILETYPE_ASN1, c)).info_subject)
            except CertificateError:
                subjects.append("?")
        return ChainResult(ChainStatus.VALID, "证书链有效 (chain valid at signing time): "
                           + " <- ".join(subjects), tuple(subjects))
