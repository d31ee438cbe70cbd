"""Parsers for the signed values found in OFD ``SignedValue.dat`` files.

* SES v1 (GM/T 0031-2014): ``SES_Signature { toSign TBS_Sign { version,
  eseal SESeal, timeInfo BIT STRING, dataHash BIT STRING, propertyInfo IA5String,
  cert OCTET STRING, signatureAlgorithm OID }, signature BIT STRING }``;
  ``SESeal { SES_SealInfo, SES_SignInfo { cert, signatureAlgorithm, signData } }``.
* SES v4 (GB/T 38540-2020) and v5: ``SES_Signature { toSign TBS_Sign { version,
  eseal SESeal, timeInfo GeneralizedTime, dataHash BIT STRING, propertyInfo
  IA5String, extDatas? }, cert OCTET STRING, signatureAlgID OID, signature
  BIT STRING, timeStamp [0]? }``; ``SESeal { SES_SealInfo, cert, signAlgID,
  signedValue }``.  v5 (GM/T 0031-2025) is read with the v4 layout and a
  version number of 5 (*unconfirmed*: no public v5 sample exists yet).
* GB/T 35275 ``SignedData`` (OID 1.2.156.10197.6.1.4.2.2), detached.

Every "to be signed" value is kept as the raw bytes found in the file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from . import _der
from ._der import DerError, Node

GBT35275_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
GBT35275_DATA = "1.2.156.10197.6.1.4.2.1"
PKCS7_SIGNED_DATA = "1.2.840.113549.1.7.2"   # CMS (RFC 5652): PDF signatures
PKCS7_DATA = "1.2.840.113549.1.7.1"
ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
ATTR_SIGNING_TIME = "1.2.840.113549.1.9.5"

# Times without a zone are taken as China Standard Time (the producers are
# Chinese and write local time).  *unconfirmed*; a few hours do not change a
# validity verdict in practice.
NAIVE_TIME_ZONE = timezone(timedelta(hours=8))


class SignedValueError(ValueError):
    """The signed value cannot be read as any supported structure."""


@dataclass(frozen=True, slots=True)
class Seal:
    version: int | None
    vid: str | None
    es_id: str | None
    seal_type: int | None
    name: str | None
    signer_certs: tuple[bytes, ...]      # certs listed in the seal property (certListType 1)
    signer_cert_digests: tuple[tuple[str, bytes], ...]  # (type, digest) for certListType 2
    cert_list_type: int | None
    create_date: datetime | None
    valid_start: datetime | None
    valid_end: datetime | None
    picture_type: str | None
    seal_info_raw: bytes                 # DER(SES_SealInfo) as stored
    maker_cert: bytes
    algorithm: str
    signed_value: bytes
    signed_value_unused_bits: int = 0    # the BIT STRING's unused-bits octet
    # the candidate byte strings the maker may have signed, best first
    signed_inputs: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class SESSignature:
    version: str                 # "v1" | "v4" | "v5"
    tbs_raw: bytes
    seal: Seal | None
    seal_error: str | None
    time_raw: str | None
    signing_time: datetime | None
    data_hash: bytes
    property_info: str | None
    signer_cert: bytes
    algorithm: str
    signature: bytes
    has_timestamp: bool = False
    signature_unused_bits: int = 0   # the BIT STRING's unused-bits octet


@dataclass(frozen=True, slots=True)
class SignedData:
    """GB/T 35275 SignedData with one SignerInfo (the first is used)."""
    signer_cert: bytes
    certificates: tuple[bytes, ...]
    digest_algorithm: str
    content_type: str | None
    message_digest: bytes | None
    signing_time: datetime | None
    signed_attrs_raw: bytes | None    # the [0] IMPLICIT attributes, as stored
    algorithm: str
    signature: bytes
    signature_unused_bits: int = 0

    @property
    def signed_attrs_as_set(self) -> bytes | None:
        """The signed attributes re-tagged as SET OF (0x31), content untouched."""
        if self.signed_attrs_raw is None:
            return None
        return b"\x31" + self.signed_attrs_raw[1:]


# --- time parsing ---------------------------------------------------------

_TIME_RE = re.compile(
    r"^(?P<y>\d{4})-?(?P<mo>\d{2})-?(?P<d>\d{2})[T ]?"
    r"(?P<h>\d{2}):?(?P<mi>\d{2}):?(?P<s>\d{2})?(?:[.,](?P<f>\d+))?"
    r"\s*(?P<z>Z|[+-]\d{2}:?\d{2})?$"
)


_UTC_SHAPE = re.compile(r"^\d{10}(?:\d{2})?(?:Z|[+-]\d{2}:?\d{2})?$")


def parse_time(text: str | None, *, utc_two_digit_year: bool = False) -> datetime | None:
    """Parse GeneralizedTime, UTCTime and the ISO-ish texts found in OFD files.

    A UTCTime (``YYMMDDHHMM[SS]`` with ``Z``, an offset or nothing) has a
    two-digit year, read with X.509's rule: 50-99 -> 1950-1999, 00-49 ->
    2000-2049.  It is recognised by its tag (``utc_two_digit_year``) or, for
    a time stored as text in a BIT STRING or IA5String, by its shape: ten or
    twelve digits are a UTCTime (a GeneralizedTime always has a four-digit
    year and, in DER, seconds: fourteen digits).
    """
    if not text:
        return None
    t = text.strip().rstrip("\x00").strip()
    if (utc_two_digit_year or len(t) < 14 or not t[:14].isdigit()) and _UTC_SHAPE.match(t):
        yy = int(t[:2])
        t = f"{1900 + yy if yy >= 50 else 2000 + yy}{t[2:]}"
    m = _TIME_RE.match(t)
    if not m:
        return None
    frac = (m.group("f") or "0")[:6].ljust(6, "0")
    try:
        dt = datetime(int(m.group("y")), int(m.group("mo")), int(m.group("d")),
                      int(m.group("h")), int(m.group("mi")), int(m.group("s") or 0),
                      int(frac))
    except ValueError:
        return None
    z = m.group("z")
    if z is None:
        return dt.replace(tzinfo=NAIVE_TIME_ZONE).astimezone(timezone.utc)
    if z == "Z":
        return dt.replace(tzinfo=timezone.utc)
    sign = 1 if z[0] == "+" else -1
    digits = z[1:].replace(":", "")
    off = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return dt.replace(tzinfo=timezone(sign * off)).astimezone(timezone.utc)


def _node_time(node: Node) -> tuple[str, datetime | None]:
    if node.is_(_der.BIT_STRING):
        text = node.as_bits().decode("latin-1")
    else:
        text = node.as_text()
    return text, parse_time(text, utc_two_digit_year=node.is_(_der.UTC_TIME))


def _text(node: Node | None) -> str | None:
    return node.as_text() if node is not None else None


# --- SES -----------------------------------------------------------------

def parse_signed_value(data: bytes) -> SESSignature | SignedData:
    """Recognise and parse a SignedValue.dat."""
    try:
        root = _der.parse_all(data)
    except DerError as exc:
        raise SignedValueError(f"SignedValue.dat 不是合法的 DER 结构: {exc}") from None
    if not (root.is_(_der.SEQUENCE) and root.constructed):
        raise SignedValueError("SignedValue.dat 不是 SEQUENCE")
    try:
        kids = root.children()
        if kids and kids[0].is_(_der.OID) and kids[0].as_oid() in (GBT35275_SIGNED_DATA, PKCS7_SIGNED_DATA):
            return _parse_signed_data_content(kids[1])
        if kids and kids[0].is_(_der.INTEGER) and len(kids) >= 4 and kids[1].is_(_der.SET):
            return _parse_signed_data(root)   # bare SignedData
        if len(kids) == 2:
            return _parse_v1(kids)
        if len(kids) >= 4:
            return _parse_v4(kids)
    except (DerError, IndexError, ValueError) as exc:
        raise SignedValueError(f"无法解析签名值: {exc}") from None
    raise SignedValueError("未知的签名值结构 (既不是 SES v1/v4/v5，也不是 GB/T 35275 SignedData)")


def _parse_v4(kids: list[Node]) -> SESSignature:
    tbs, cert, alg, sig = kids[:4]
    t = tbs.children()
    version = t[0].as_int()
    if version < 2:
        raise SignedValueError(f"TBS_Sign version {version} with v4 layout")
    seal, seal_error = _try_seal(t[1])
    time_raw, signing_time = _node_time(t[2])
    return SESSignature(
        version="v5" if version >= 5 else "v4",
        tbs_raw=tbs.raw, seal=seal, seal_error=seal_error,
        time_raw=time_raw, signing_time=signing_time,
        data_hash=t[3].as_bits(),
        property_info=_text(t[4]) if len(t) > 4 else None,
        signer_cert=cert.content, algorithm=alg.as_oid(), signature=sig.as_bits(),
        has_timestamp=len(kids) > 4, signature_unused_bits=sig.unused_bits(),
    )


def _parse_v1(kids: list[Node]) -> SESSignature:
    tbs, sig = kids
    t = tbs.children()
    version = t[0].as_int()
    seal, seal_error = _try_seal(t[1])
    time_raw, signing_time = _node_time(t[2])
    return SESSignature(
        version="v1" if version <= 3 else f"v{version}",
        tbs_raw=tbs.raw, seal=seal, seal_error=seal_error,
        time_raw=time_raw, signing_time=signing_time,
        data_hash=t[3].as_bits(), property_info=_text(t[4]),
        signer_cert=t[5].content, algorithm=t[6].as_oid(), signature=sig.as_bits(),
        signature_unused_bits=sig.unused_bits(),
    )


def _try_seal(node: Node) -> tuple[Seal | None, str | None]:
    try:
        return parse_seal(node), None
    except (DerError, IndexError, ValueError) as exc:
        return None, f"印章结构无法解析: {exc}"


def parse_seal_bytes(data: bytes) -> Seal:
    """An electronic seal file (``.esl``: SESeal v1/v4), or :class:`SignedValueError`."""
    try:
        return parse_seal(_der.parse_all(data))
    except (DerError, IndexError, ValueError) as exc:
        raise SignedValueError(f"不是可读的电子印章 (SESeal): {exc}") from None


def parse_seal(node: Node) -> Seal:
    kids = node.children()
    info = kids[0]
    ik = info.children()
    header = ik[0].children()
    version = header[1].as_int() if len(header) > 1 else None
    vid = _text(header[2]) if len(header) > 2 else None
    es_id = _text(ik[1])
    prop = ik[2].children()
    seal_type = prop[0].as_int() if prop and prop[0].is_(_der.INTEGER) else None
    name = _text(prop[1]) if len(prop) > 1 else None
    certs: list[bytes] = []
    digests: list[tuple[str, bytes]] = []
    cert_list_type = None
    times: list[datetime | None] = []
    rest = prop[2:]
    if rest and rest[0].is_(_der.INTEGER):          # v4: certListType, certList
        cert_list_type = rest[0].as_int()
        lst = rest[1]
        if lst.constructed:
            for c in lst.children():
                if c.is_(_der.OCTET_STRING):
                    certs.append(c.content)
                elif c.is_(_der.SEQUENCE) and c.constructed:   # CertDigestObj{type, value}
                    t, v = c.children()[:2]
                    digests.append((t.as_text(), v.content))
        rest = rest[2:]
    elif rest and rest[0].is_(_der.SEQUENCE):        # v1: SEQUENCE OF cert
        certs = [c.content for c in rest[0].children() if c.is_(_der.OCTET_STRING)]
        rest = rest[1:]
    for n in rest[:3]:
        times.append(_node_time(n)[1])
    times += [None] * (3 - len(times))
    pic = ik[3].children() if len(ik) > 3 and ik[3].constructed else []
    picture_type = _text(pic[0]) if pic else None

    if len(kids) >= 4:   # v4/v5
        cert, alg, sv = kids[1], kids[2], kids[3]
        inputs = (("SES_SealInfo", info.raw),)
    else:                # v1: SES_SignInfo { cert, signatureAlgorithm, signData }
        cert, alg, sv = kids[1].children()[:3]
        wrapped = _der.tlv(0x30, info.raw + cert.raw + alg.raw)
        inputs = (("SEQUENCE{SES_SealInfo, cert, signatureAlgorithm}", wrapped),
                  ("SES_SealInfo", info.raw))
    bit_string = sv.is_(_der.BIT_STRING)
    signed_value = sv.as_bits() if bit_string else sv.content
    return Seal(
        version=version, vid=vid, es_id=es_id, seal_type=seal_type, name=name,
        signer_certs=tuple(certs), signer_cert_digests=tuple(digests),
        cert_list_type=cert_list_type,
        create_date=times[0], valid_start=times[1], valid_end=times[2],
        picture_type=picture_type, seal_info_raw=info.raw,
        maker_cert=cert.content, algorithm=alg.as_oid(), signed_value=signed_value,
        signed_value_unused_bits=sv.unused_bits() if bit_string else 0,
        signed_inputs=inputs,
    )


# --- GB/T 35275 -------------------------------------------------------------

def _parse_signed_data_content(explicit: Node) -> SignedData:
    if not (explicit.cls == _der.CONTEXT and explicit.tag == 0):
        raise SignedValueError("ContentInfo without [0] content")
    return _parse_signed_data(explicit.children()[0])


def _parse_signed_data(node: Node) -> SignedData:
    kids = node.children()
    # version, digestAlgorithms SET, contentInfo, [0] certificates?, [1] crls?, signerInfos SET
    digest_algs = kids[1]
    certs: list[bytes] = []
    signer_infos = None
    for k in kids[3:]:
        if k.cls == _der.CONTEXT and k.tag == 0:
            certs = [c.raw for c in k.children()]
        elif k.is_(_der.SET):
            signer_infos = k
    if signer_infos is None or not signer_infos.children():
        raise SignedValueError("SignedData 没有 SignerInfo")
    si = signer_infos.children()[0].children()
    # version, issuerAndSerialNumber, digestAlgorithm, [0] authenticatedAttributes?,
    # digestEncryptionAlgorithm, encryptedDigest, [1] unauthenticated?
    ias = si[1].children()
    issuer_raw, serial = ias[0].raw, ias[1].as_int()
    digest_alg = si[2].children()[0].as_oid()
    idx = 3
    attrs_raw = None
    content_type = None
    message_digest = None
    signing_time = None
    if si[idx].cls == _der.CONTEXT and si[idx].tag == 0:
        attrs_raw = si[idx].raw
        for attr in si[idx].children():
            a = attr.children()
            oid = a[0].as_oid()
            values = a[1].children()
            if not values:
                continue
            v = values[0]
            if oid == ATTR_CONTENT_TYPE:
                content_type = v.as_oid()
            elif oid == ATTR_MESSAGE_DIGEST:
                message_digest = v.content
            elif oid == ATTR_SIGNING_TIME:
                signing_time = _node_time(v)[1]
        idx += 1
    sig_alg = si[idx].children()[0].as_oid()
    sig_node = si[idx + 1]
    bit_string = sig_node.is_(_der.BIT_STRING)
    signature = sig_node.as_bits() if bit_string else sig_node.content
    signer = _match_signer(certs, issuer_raw, serial)
    if digest_algs.children():
        pass  # digest algorithm of the SignerInfo is authoritative
    return SignedData(
        signer_cert=signer, certificates=tuple(certs), digest_algorithm=digest_alg,
        content_type=content_type, message_digest=message_digest,
        signing_time=signing_time, signed_attrs_raw=attrs_raw,
        algorithm=sig_alg, signature=signature,
        signature_unused_bits=sig_node.unused_bits() if bit_string else 0,
    )


def _match_signer(certs: list[bytes], issuer_raw: bytes, serial: int) -> bytes:
    for c in certs:
        try:
            tbs = _der.parse_all(c).children()[0].children()
            i = 1 if tbs[0].cls == _der.CONTEXT else 0
            if tbs[i].as_int() == serial and tbs[i + 2].raw == issuer_raw:
                return c
        except (DerError, IndexError, ValueError):
            continue
    if certs:
        return certs[0]
    raise SignedValueError("SignedData 中没有签名者证书")
