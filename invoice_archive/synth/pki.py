"""A synthetic SM2 PKI and an OFD signer, for tests and for the acceptance run
(``invoice-archive acceptance`` signs its own invoices with it): never for
production, and nothing it signs is a real invoice.

Keys come from gmssl-pyx; certificates are X.509 v3 built with a small DER
encoder and signed SM2-with-SM3 (user ID 1234567812345678), so OpenSSL's
X509Store validates their chains.  ``sign_ofd`` adds
``Doc_0/Signs/Signatures.xml`` + ``Sign_N/Signature.xml`` + ``SignedValue.dat``
as SES v4 (GB/T 38540) or as GB/T 35275 SignedData.
"""
from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

import gmssl_pyx

from invoice_archive.synth.ofd import write_zip
from invoice_archive.verification import sm
from invoice_archive.verification._der import encode_uint, tlv

SM2_WITH_SM3 = "1.2.156.10197.1.501"
SM2_SIGN = "1.2.156.10197.1.301.1"
SM3 = "1.2.156.10197.1.401"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
SM2_CURVE = "1.2.156.10197.1.301"
OFD_NS = "http://www.ofdspec.org/2016"

# 1x1 transparent PNG for the seal picture
_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


# --- tiny DER encoder ----------------------------------------------------------

def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray()
    for a in [arcs[0] * 40 + arcs[1]] + arcs[2:]:
        chunk = [a & 0x7F]
        a >>= 7
        while a:
            chunk.append(0x80 | (a & 0x7F))
            a >>= 7
        body += bytes(reversed(chunk))
    return tlv(0x06, bytes(body))


def seq(*items: bytes) -> bytes:
    return tlv(0x30, b"".join(items))


def set_of(*items: bytes) -> bytes:
    return tlv(0x31, b"".join(sorted(items)))


def utf8(s: str) -> bytes:
    return tlv(0x0C, s.encode("utf-8"))


def ia5(s: str) -> bytes:
    return tlv(0x16, s.encode("ascii"))


def octets(b: bytes) -> bytes:
    return tlv(0x04, b)


def bits(b: bytes) -> bytes:
    return tlv(0x03, b"\x00" + b)


def integer(n: int) -> bytes:
    return encode_uint(n)


def gtime(d: datetime, z: bool = True) -> bytes:
    return tlv(0x18, (d.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S") + ("Z" if z else "")).encode())


def x509_time(d: datetime) -> bytes:
    d = d.astimezone(timezone.utc)
    if 1950 <= d.year < 2050:
        return tlv(0x17, d.strftime("%y%m%d%H%M%SZ").encode())
    return gtime(d)


def name(cn: str, org: str = "invoice-archive 测试 CA") -> bytes:
    return seq(
        set_of(seq(oid("2.5.4.6"), tlv(0x13, b"CN"))),
        set_of(seq(oid("2.5.4.10"), utf8(org))),
        set_of(seq(oid("2.5.4.3"), utf8(cn))),
    )


# --- keys and certificates --------------------------------------------------

@dataclass(frozen=True)
class KeyPair:
    public: bytes   # 64 bytes x || y
    private: bytes  # 32 bytes

    @classmethod
    def generate(cls) -> KeyPair:
        pub, priv = gmssl_pyx.sm2_key_generate()
        return cls(pub, priv)

    def sign(self, message: bytes) -> bytes:
        return gmssl_pyx.sm2_sign(self.private, self.public, message)


@dataclass(frozen=True)
class Identity:
    cn: str
    key: KeyPair
    cert: bytes          # DER
    name_der: bytes
    ca: bool
    not_before: datetime
    not_after: datetime

    @property
    def pem(self) -> bytes:
        b64 = base64.encodebytes(self.cert).replace(b"\n", b"")
        lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
        return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


_serial = iter(range(0x1000, 0x7FFFFFFF))


def issue(cn: str, issuer: Identity | None, *, ca: bool = False,
          not_before: datetime | None = None, not_after: datetime | None = None,
          key: KeyPair | None = None, signing_key: KeyPair | None = None,
          issuer_name: bytes | None = None) -> Identity:
    """Issue a certificate.  ``issuer=None`` makes it self-signed.
    ``signing_key`` overrides the key that signs it (to build broken chains)."""
    key = key or KeyPair.generate()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    not_before = not_before or now - timedelta(days=3650)
    not_after = not_after or now + timedelta(days=3650)
    subject = name(cn)
    iss_name = issuer_name or (issuer.name_der if issuer else subject)
    skid = hashlib.sha1(b"\x04" + key.public).digest()
    issuer_key = issuer.key if issuer else key
    akid = hashlib.sha1(b"\x04" + issuer_key.public).digest()
    alg = seq(oid(SM2_WITH_SM3))
    exts = [
        seq(oid("2.5.29.19"), tlv(0x01, b"\xff"),
            octets(seq(tlv(0x01, b"\xff")) if ca else seq())),
        seq(oid("2.5.29.15"), tlv(0x01, b"\xff"),
            octets(tlv(0x03, b"\x01\x06") if ca else tlv(0x03, b"\x06\xc0"))),
        seq(oid("2.5.29.14"), octets(octets(skid))),
        seq(oid("2.5.29.35"), octets(seq(tlv(0x80, akid)))),
    ]
    tbs = seq(
        tlv(0xA0, integer(2)),
        integer(next(_serial)),
        alg,
        iss_name,
        seq(x509_time(not_before), x509_time(not_after)),
        subject,
        seq(seq(oid(EC_PUBLIC_KEY), oid(SM2_CURVE)), bits(b"\x04" + key.public)),
        tlv(0xA3, seq(*exts)),
    )
    signer = signing_key or issuer_key
    cert = seq(tbs, alg, bits(signer.sign(tbs)))
    return Identity(cn, key, cert, subject, ca, not_before, not_after)


@dataclass(frozen=True)
class SynthPKI:
    """A root, an intermediate, an invoice signer and a seal maker under them, and an
    unrelated root (for chains that end nowhere trusted)."""

    __test__ = False   # not a pytest test class, whatever its old name
    root: Identity
    intermediate: Identity
    signer: Identity
    seal_maker: Identity
    other_root: Identity

    def write_trust_store(self, directory: Path, *, with_root: bool = True,
                          with_intermediate: bool = True) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        if with_root:
            (directory / "root.pem").write_bytes(self.root.pem)
        if with_intermediate:
            (directory / "intermediate.cer").write_bytes(self.intermediate.cert)
        return directory

    def issue_signer(self, cn: str = "合成发票监制章签章者", **kw) -> Identity:
        return issue(cn, self.intermediate, **kw)


#: the name the tests have always used
TestPKI = SynthPKI


def build_pki() -> SynthPKI:
    root = issue("invoice-archive 测试根 CA (SM2)", None, ca=True)
    inter = issue("invoice-archive 测试中级 CA (SM2)", root, ca=True)
    signer = issue("合成税务监制章签章者", inter)
    maker = issue("合成电子印章制作系统", inter)
    other = issue("另一个测试根 CA (SM2)", None, ca=True)
    return SynthPKI(root, inter, signer, maker, other)


# --- keeping a PKI between runs ------------------------------------------------

PKI_FILE = "pki.json"


def _identity_dict(ident: Identity) -> dict:
    return {"cn": ident.cn, "public": ident.key.public.hex(), "private": ident.key.private.hex(),
            "cert": ident.cert.hex(), "name": ident.name_der.hex(), "ca": ident.ca,
            "not_before": ident.not_before.isoformat(), "not_after": ident.not_after.isoformat()}


def _identity(d: dict) -> Identity:
    return Identity(d["cn"], KeyPair(bytes.fromhex(d["public"]), bytes.fromhex(d["private"])),
                    bytes.fromhex(d["cert"]), bytes.fromhex(d["name"]), bool(d["ca"]),
                    datetime.fromisoformat(d["not_before"]), datetime.fromisoformat(d["not_after"]))


def save_pki(pki: SynthPKI, directory: Path) -> Path:
    """Keep the PKI in ``directory``: its keys and certificates (pki.json, private: mode
    0600) and the trust-store files (root.pem, intermediate.cer) a deployment under
    test may be given. A test PKI: whoever holds pki.json can sign what that
    deployment then trusts, so only a test deployment should ever trust it."""
    import json
    import os

    directory.mkdir(parents=True, exist_ok=True)
    data = {name: _identity_dict(getattr(pki, name))
            for name in ("root", "intermediate", "signer", "seal_maker", "other_root")}
    fd = os.open(directory / PKI_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    pki.write_trust_store(directory)
    return directory


def load_pki(directory: Path) -> SynthPKI:
    import json

    data = json.loads((directory / PKI_FILE).read_text("utf-8"))
    return SynthPKI(**{name: _identity(d) for name, d in data.items()})


# --- seals and signatures ---------------------------------------------------

@dataclass(frozen=True)
class SealSpec:
    maker: Identity
    name: str = "合成数据测试专用章"
    es_id: str = "SYNTH-SEAL-0001"
    valid_start: datetime | None = None
    valid_end: datetime | None = None
    signers: tuple[bytes, ...] = ()          # signer certs bound to the seal
    signing_key: KeyPair | None = None       # a different key = a forged seal
    signature_form: str = "der"              # see SIGNATURE_FORMS


# --- signature values written the way quirky producers write them ------------
#
# Each form is the same valid signature, re-encoded after signing; the
# verifier must read it leniently and still check the mathematics exactly
# (docs/signatures.md, "Signature value encodings").
SIGNATURE_FORMS = ("der", "raw_rs", "ber_unsigned", "ber_padded", "trimmed", "trimmed_raw_rs")


def _int_content(n: int, *, sign_byte: bool = True, pad: int = 0) -> bytes:
    b = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    if sign_byte and b[0] & 0x80:
        b = b"\x00" + b
    return b"\x00" * pad + b


def quirky_bits(sig_der: bytes, form: str) -> bytes | None:
    """The BIT STRING holding ``sig_der`` in ``form``, or None when this
    particular signature cannot show the quirk (the caller signs again)."""
    from invoice_archive.verification import _der
    r_node, s_node = _der.parse_all(sig_der).children()
    r, s = r_node.as_int(), s_node.as_int()
    if form == "der":
        return bits(sig_der)
    if form == "raw_rs":
        return bits(sm.raw_rs(sig_der))
    if form == "ber_unsigned":       # INTEGERs without the 0x00 sign byte: read as negative
        if not (r.bit_length() % 8 == 0 or s.bit_length() % 8 == 0):
            return None
        return bits(tlv(0x30, tlv(0x02, _int_content(r, sign_byte=False))
                        + tlv(0x02, _int_content(s, sign_byte=False))))
    if form == "ber_padded":         # non-minimal INTEGERs (extra leading zeros)
        return bits(tlv(0x30, tlv(0x02, _int_content(r, pad=2)) + tlv(0x02, _int_content(s, pad=1))))
    if form in ("trimmed", "trimmed_raw_rs"):   # trailing 0x00 cut off, unused bits set
        value = sig_der if form == "trimmed" else sm.raw_rs(sig_der)
        if value[-1] != 0 or value[-2] == 0:
            return None
        value = value[:-1]
        last = value[-1]
        unused = (last & -last).bit_length() - 1
        return tlv(0x03, bytes([unused]) + value)
    raise ValueError(f"unknown signature form {form!r}")


def sign_in_form(key: KeyPair, message: bytes, form: str) -> bytes:
    """A BIT STRING with ``key``'s signature of ``message`` written in ``form``
    (signing again until the random signature can carry the quirk)."""
    for _ in range(5000):
        out = quirky_bits(key.sign(message), form)
        if out is not None:
            return out
    raise RuntimeError(f"no signature in form {form!r} after 5000 tries")


def build_seal_v4(spec: SealSpec) -> bytes:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = spec.valid_start or now - timedelta(days=3650)
    end = spec.valid_end or now + timedelta(days=3650)
    seal_info = seq(
        seq(ia5("ES"), integer(4), ia5("SYNTH")),
        ia5(spec.es_id),
        seq(integer(1), utf8(spec.name), integer(1), seq(*(octets(c) for c in spec.signers)),
            gtime(start), gtime(start), gtime(end)),
        seq(ia5("PNG"), octets(_PNG), integer(40), integer(40)),
    )
    key = spec.signing_key or spec.maker.key
    return seq(seal_info, octets(spec.maker.cert), oid(SM2_WITH_SM3),
               sign_in_form(key, seal_info, spec.signature_form))


def _signature_xml(refs: list[tuple[str, bytes]], when: datetime, sign_dir: str,
                   check_method: str = "1.2.156.10197.1.401", seal_ref: bool = False) -> bytes:
    items = "".join(
        f'<ofd:Reference FileRef="/{escape(p)}"><ofd:CheckValue>'
        f"{base64.b64encode(sm.sm3(d)).decode()}</ofd:CheckValue></ofd:Reference>"
        for p, d in refs)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ofd:Signature xmlns:ofd="{OFD_NS}"><ofd:SignedInfo>'
        '<ofd:Provider ProviderName="invoice-archive-testca" Version="1.0" Company="synthetic"/>'
        f"<ofd:SignatureMethod>{SM2_WITH_SM3}</ofd:SignatureMethod>"
        f"<ofd:SignatureDateTime>{when.astimezone(timezone.utc).strftime('%Y%m%d%H%M%S')}Z</ofd:SignatureDateTime>"
        f'<ofd:References CheckMethod="{check_method}">{items}</ofd:References>'
        '<ofd:StampAnnot ID="900" PageRef="1" Boundary="90 8 30 20"/>'
        f"</ofd:SignedInfo><ofd:SignedValue>/{sign_dir}/SignedValue.dat</ofd:SignedValue></ofd:Signature>"
    ).encode("utf-8")


def _members(ofd: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(ofd)) as z:
        return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}


def _with_signatures_entry(ofd_xml: bytes, path: str) -> bytes:
    if b"Signatures>" in ofd_xml:
        return ofd_xml
    return ofd_xml.replace(b"</ofd:DocBody>",
                           f"<ofd:Signatures>{path}</ofd:Signatures></ofd:DocBody>".encode(), 1)


def sign_ofd(ofd_bytes: bytes, signer: Identity, seal: SealSpec | None = None, *,
             variant: str = "ses_v4", signing_time: datetime | None = None,
             raw_rs: bool = False, sign_signatures_xml: bool = False,
             check_method: str = "1.2.156.10197.1.401", ses_version: int = 4,
             signature_form: str = "der", time_form: str = "generalized") -> bytes:
    """Sign an OFD (appending to existing signatures).

    ``variant``: ``"ses_v4"`` (needs ``seal``) or ``"gbt35275"``.
    ``raw_rs``: store the SM2 signature as 64-byte r||s instead of DER.
    ``ses_version``: the TBS_Sign version (5 for GM/T 0031-2025, same layout).
    ``sign_signatures_xml``: also protect Signatures.xml (as some producers do;
    a later signature then legitimately changes it).
    ``signature_form``: how the signer's signature value is encoded (SIGNATURE_FORMS).
    ``time_form``: the TBS signing time as ``"generalized"`` (GeneralizedTime with Z),
    ``"generalized_local"`` (no zone, fractions), ``"utc"`` (UTCTime, two-digit year)
    or ``"utc_in_generalized"`` (a UTCTime text under the GeneralizedTime tag).
    """
    when = (signing_time or datetime.now(timezone.utc)).replace(microsecond=0)
    m = _members(ofd_bytes)
    list_path = "Doc_0/Signs/Signatures.xml"
    m["OFD.xml"] = _with_signatures_entry(m["OFD.xml"], list_path)
    n = 0
    while f"Doc_0/Signs/Sign_{n}/Signature.xml" in m:
        n += 1
    sign_dir = f"Doc_0/Signs/Sign_{n}"
    entries = "".join(
        f'<ofd:Signature ID="{i + 1}" Type="Seal" BaseLoc="/Doc_0/Signs/Sign_{i}/Signature.xml"/>'
        for i in range(n + 1))
    m[list_path] = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ofd:Signatures xmlns:ofd="{OFD_NS}"><ofd:MaxSignId>{n + 1}</ofd:MaxSignId>'
        f"{entries}</ofd:Signatures>").encode()
    refs = [(p, d) for p, d in m.items()
            if not p.startswith("Doc_0/Signs/") or (sign_signatures_xml and p == list_path)
            or (p.startswith("Doc_0/Signs/Sign_"))]
    sig_xml = _signature_xml(refs, when, sign_dir, check_method)
    m[f"{sign_dir}/Signature.xml"] = sig_xml

    if variant == "ses_v4":
        if seal is None:
            raise ValueError("SES v4 needs a seal")
        if not seal.signers:
            seal = replace(seal, signers=(signer.cert,))
        tbs = seq(integer(ses_version), build_seal_v4(seal), _tbs_time(when, time_form),
                  bits(sm.sm3(sig_xml)), ia5(f"/{sign_dir}/Signature.xml"))
        form = "raw_rs" if raw_rs else signature_form
        value = seq(tbs, octets(signer.cert), oid(SM2_WITH_SM3), sign_in_form(signer.key, tbs, form))
    elif variant == "gbt35275":
        value = signed_data(sig_xml, signer, when, raw_rs=raw_rs)
    else:
        raise ValueError(f"unknown variant {variant!r}")
    m[f"{sign_dir}/SignedValue.dat"] = value
    return write_zip(m)


def _tbs_time(when: datetime, form: str) -> bytes:
    utc = when.astimezone(timezone.utc)
    if form == "generalized":
        return gtime(when)
    if form == "generalized_local":      # China time without a zone, with a fraction
        local = utc + timedelta(hours=8)
        return tlv(0x18, local.strftime("%Y%m%d%H%M%S").encode() + b".5")
    if form == "utc":
        return tlv(0x17, utc.strftime("%y%m%d%H%M%SZ").encode())
    if form == "utc_in_generalized":
        return tlv(0x18, utc.strftime("%y%m%d%H%M%SZ").encode())
    raise ValueError(f"unknown time form {form!r}")


def signed_data(content: bytes, signer: Identity, when: datetime, *, raw_rs: bool = False,
                pkcs7: bool = False) -> bytes:
    """GB/T 35275 SignedData, detached, with signed attributes (``pkcs7``: the same
    structure under the CMS OIDs, as PDF signers write it)."""
    data_oid = "1.2.840.113549.1.7.1" if pkcs7 else "1.2.156.10197.6.1.4.2.1"
    attrs = [
        seq(oid("1.2.840.113549.1.9.3"), set_of(oid(data_oid))),
        seq(oid("1.2.840.113549.1.9.5"), set_of(x509_time(when))),
        seq(oid("1.2.840.113549.1.9.4"), set_of(octets(sm.sm3(content)))),
    ]
    attrs_set = set_of(*attrs)
    sig = signer.key.sign(attrs_set)
    if raw_rs:
        sig = sm.raw_rs(sig)
    # issuerAndSerialNumber from the signer certificate
    from invoice_archive.verification import _der
    tbs = _der.parse_all(signer.cert).children()[0].children()
    serial, issuer_name = tbs[1].raw, tbs[3].raw
    signer_info = seq(
        integer(1), seq(issuer_name, serial), seq(oid(SM3), tlv(0x05, b"")),
        b"\xa0" + attrs_set[1:],                      # [0] IMPLICIT SET OF Attribute
        seq(oid(SM2_SIGN), tlv(0x05, b"")), octets(sig))
    sd = seq(integer(1), set_of(seq(oid(SM3), tlv(0x05, b""))), seq(oid(data_oid)),
             tlv(0xA0, signer.cert), set_of(signer_info))
    return seq(oid("1.2.840.113549.1.7.2" if pkcs7 else "1.2.156.10197.6.1.4.2.2"), tlv(0xA0, sd))


def replace_member(ofd_bytes: bytes, name: str, data: bytes) -> bytes:
    m = _members(ofd_bytes)
    m[name] = data
    return write_zip(m)


def flip_byte(ofd_bytes: bytes, name: str, offset: int = -20) -> bytes:
    m = _members(ofd_bytes)
    b = bytearray(m[name])
    b[offset] ^= 0x01
    m[name] = bytes(b)
    return write_zip(m)
