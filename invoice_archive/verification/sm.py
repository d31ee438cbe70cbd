"""SM2 / SM3 primitives on native code only.

* SM3: ``hashlib`` when the linked OpenSSL provides it, else gmssl-pyx.
* SM2 verification (signature over ``Z(ID, key) || message`` with SM3):
  OpenSSL's libcrypto through ctypes (fastest here, ~0.4 ms), else the
  gmssl-pyx extension (~0.8 ms).  No pure-Python elliptic-curve code runs on
  the main path.

Public keys are the 64-byte ``x || y`` form (an uncompressed point without
its 0x04 prefix).  Signatures are DER ``SEQUENCE { r INTEGER, s INTEGER }``;
:func:`normalize_signature` converts the raw 64-byte ``r || s`` form some
signers produce.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections import OrderedDict
from typing import Callable

import gmssl_pyx

from invoice_archive.digests import sm3_digest

from ._der import DerError, encode_uint, parse_all, tlv

DEFAULT_USER_ID = b"1234567812345678"

SM3_OIDS = {"1.2.156.10197.1.401", "1.2.156.10197.1.401.1"}
SM2_SIGN_OIDS = {
    "1.2.156.10197.1.501",    # SM2-with-SM3
    "1.2.156.10197.1.301.1",  # SM2-1 signature (used by GB/T 35275 SignerInfo)
    "1.2.156.10197.1.301",    # SM2 (some producers put the key OID here)
}

# --- SM3 -------------------------------------------------------------------

sm3: Callable[[bytes], bytes] = sm3_digest   # hashlib, or GmSSL where OpenSSL lacks SM3


# --- signature encodings ------------------------------------------------

# How a signature value was written, when it was not canonical DER.  The
# mathematics is always checked exactly on the canonical re-encoding; these
# forms only say how leniently the bytes had to be read (docs/signatures.md,
# "Signature value encodings").
ENCODING_NOTES = {
    "raw_rs": "签名值为 64 字节 r||s，已转换为 DER",
    "ber": "签名值不是规范 DER（INTEGER 编码非最小或缺少符号字节），已按无符号整数读取",
    "trimmed": "签名值末尾的 0x00 字节被截去（BIT STRING 未用位数非零），已补回",
    "trimmed_raw_rs": "64 字节 r||s 签名值末尾的 0x00 字节被截去，已补回",
}
# Forms that are reported as an encoding warning (raw r||s is a documented
# alternative form and is not).
QUIRK_FORMS = frozenset({"ber", "trimmed", "trimmed_raw_rs"})
_MAX_TRIMMED = 2          # at most this many trailing zero bytes restored
_MAX_INT_BYTES = 40       # an SM2 r or s is 32 bytes; allow leading zeros, not junk


def normalize_signature(sig: bytes, unused_bits: int = 0) -> tuple[bytes, str]:
    """Return ``(canonical_der, form)`` for an SM2 signature value.

    ``form`` is ``"der"`` (already canonical), ``"raw_rs"`` (64-byte ``r || s``),
    ``"ber"`` (a DER SEQUENCE whose INTEGERs are non-minimal or lack the
    0x00 sign byte, so read as unsigned: what production verifiers accept),
    ``"trimmed"`` (a DER value whose trailing zero bytes were cut off, as
    some producers do when they write the BIT STRING from a bit length; the
    bytes are restored) or ``"trimmed+ber"``, or ``"trimmed_raw_rs"``.
    ``unused_bits`` is the BIT STRING's unused-bits octet, when the value
    came from one.  Raises :class:`ValueError` for anything else.
    """
    if len(sig) == 64:
        der = _der_rs(sig)
        if der is not None:
            return der
        r = int.from_bytes(sig[:32], "big")
        s = int.from_bytes(sig[32:], "big")
        return tlv(0x30, encode_uint(r) + encode_uint(s)), "raw_rs"
    found = _der_rs(sig)
    if found is not None:
        return found
    restored = _restore_trimmed(sig)
    if restored is not None:
        found = _der_rs(restored)
        if found is not None:
            return found[0], "trimmed" if found[1] == "der" else "trimmed+ber"
    if 64 - _MAX_TRIMMED <= len(sig) < 64:
        padded = sig + b"\x00" * (64 - len(sig))
        r = int.from_bytes(padded[:32], "big")
        s = int.from_bytes(padded[32:], "big")
        return tlv(0x30, encode_uint(r) + encode_uint(s)), "trimmed_raw_rs"
    raise ValueError("signature is neither DER nor 64-byte r||s")


def _der_rs(sig: bytes) -> tuple[bytes, str] | None:
    """A SEQUENCE of two INTEGERs, re-encoded canonically (unsigned)."""
    try:
        node = parse_all(sig)
        if node.tag != 16 or not node.constructed or node.cls != 0:
            return None
        kids = node.children()
    except DerError:
        return None
    if len(kids) != 2 or any(k.tag != 2 or k.cls != 0 or k.constructed for k in kids):
        return None
    values = []
    for k in kids:
        c = k.content
        if not c or len(c) > _MAX_INT_BYTES:
            return None
        values.append(int.from_bytes(c, "big"))
    canonical = tlv(0x30, encode_uint(values[0]) + encode_uint(values[1]))
    return canonical, "der" if canonical == sig else "ber"


def _restore_trimmed(sig: bytes) -> bytes | None:
    """The value with its cut-off trailing zero bytes put back, when its own
    outer length says exactly how many are missing."""
    if len(sig) < 2 or sig[0] != 0x30:
        return None
    ln = sig[1]
    hdr = 2
    if ln & 0x80:
        n = ln & 0x7F
        if n != 1 or len(sig) < 3:
            return None
        ln, hdr = sig[2], 3
    missing = hdr + ln - len(sig)
    if not 0 < missing <= _MAX_TRIMMED:
        return None
    return sig + b"\x00" * missing


def raw_rs(sig_der: bytes) -> bytes:
    """DER ECDSA-style signature -> 64-byte r || s."""
    r_node, s_node = parse_all(sig_der).children()
    return r_node.as_int().to_bytes(32, "big") + s_node.as_int().to_bytes(32, "big")


# SubjectPublicKeyInfo prefix for id-ecPublicKey + SM2 curve, uncompressed point
_SPKI_PREFIX = bytes.fromhex(
    "3059301306072a8648ce3d020106082a811ccf5501822d03420004"
)


def spki_from_point(pub64: bytes) -> bytes:
    return _SPKI_PREFIX + pub64


# --- SM2 backends ---------------------------------------------------------

class _LibcryptoSM2:
    """SM2 verification via OpenSSL 3 libcrypto (EVP_DigestVerify + SM3 + distid)."""

    name = "openssl-libcrypto"
    _CACHE_SIZE = 256

    def __init__(self) -> None:
        path = ctypes.util.find_library("crypto")
        if not path:
            raise OSError("libcrypto not found")
        lib = ctypes.CDLL(path)
        vp, cp, sz, ci = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int
        lib.OpenSSL_version_num.restype = ctypes.c_ulong
        if lib.OpenSSL_version_num() < 0x30000000:
            raise OSError("OpenSSL >= 3.0 needed for SM2 through EVP")
        lib.d2i_PUBKEY.restype = vp
        lib.d2i_PUBKEY.argtypes = [vp, ctypes.POINTER(cp), ctypes.c_long]
        lib.EVP_PKEY_free.argtypes = [vp]
        lib.EVP_PKEY_up_ref.restype = ci
        lib.EVP_PKEY_up_ref.argtypes = [vp]
        lib.EVP_PKEY_is_a.restype = ci
        lib.EVP_PKEY_is_a.argtypes = [vp, cp]
        lib.EVP_MD_CTX_new.restype = vp
        lib.EVP_MD_CTX_free.argtypes = [vp]
        lib.EVP_PKEY_CTX_new.restype = vp
        lib.EVP_PKEY_CTX_new.argtypes = [vp, vp]
        lib.EVP_PKEY_CTX_free.argtypes = [vp]
        lib.EVP_PKEY_CTX_set1_id.restype = ci
        lib.EVP_PKEY_CTX_set1_id.argtypes = [vp, cp, ci]
        lib.EVP_MD_CTX_set_pkey_ctx.argtypes = [vp, vp]
        lib.EVP_sm3.restype = vp
        lib.EVP_DigestVerifyInit.restype = ci
        lib.EVP_DigestVerifyInit.argtypes = [vp, vp, vp, vp, vp]
        lib.EVP_DigestVerify.restype = ci
        lib.EVP_DigestVerify.argtypes = [vp, cp, sz, cp, sz]
        lib.ERR_clear_error.argtypes = []
        self._lib = lib
        self._md = lib.EVP_sm3()
        if not self._md:
            raise OSError("this OpenSSL has no SM3")
        self._keys: OrderedDict[bytes, int] = OrderedDict()
        self._lock = threading.Lock()
        # self-test with a gmssl-made signature so a broken build is never used
        pub, priv = gmssl_pyx.sm2_key_generate()
        sig = gmssl_pyx.sm2_sign(priv, pub, b"self-test")
        if not self.verify(pub, b"self-test", sig) or self.verify(pub, b"self-tesT", sig):
            raise OSError("libcrypto SM2 self-test failed")

    def _pkey(self, pub64: bytes) -> int:
        """A reference to the cached EVP_PKEY; the caller frees it (the cache
        may evict and free its own reference meanwhile)."""
        with self._lock:
            pk = self._keys.get(pub64)
            if pk is not None:
                self._keys.move_to_end(pub64)
                self._lib.EVP_PKEY_up_ref(pk)
                return pk
            der = spki_from_point(pub64)
            p = ctypes.c_char_p(der)
            pk = self._lib.d2i_PUBKEY(None, ctypes.byref(p), len(der))
            if not pk:
                self._lib.ERR_clear_error()
                raise ValueError("public key is not a valid SM2 point")
            if not self._lib.EVP_PKEY_is_a(pk, b"SM2"):
                self._lib.EVP_PKEY_free(pk)
                raise OSError("libcrypto does not treat the key as SM2")
            self._keys[pub64] = pk
            if len(self._keys) > self._CACHE_SIZE:
                _, old = self._keys.popitem(last=False)
                self._lib.EVP_PKEY_free(old)
            self._lib.EVP_PKEY_up_ref(pk)
            return pk

    def verify(self, pub64: bytes, message: bytes, sig_der: bytes,
               user_id: bytes = DEFAULT_USER_ID) -> bool:
        lib = self._lib
        pk = self._pkey(pub64)
        mctx = lib.EVP_MD_CTX_new()
        pctx = lib.EVP_PKEY_CTX_new(pk, None)
        try:
            if not mctx or not pctx:
                raise MemoryError("EVP context allocation failed")
            if lib.EVP_PKEY_CTX_set1_id(pctx, user_id, len(user_id)) <= 0:
                raise OSError("EVP_PKEY_CTX_set1_id failed")
            lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
            if lib.EVP_DigestVerifyInit(mctx, None, self._md, None, pk) != 1:
                raise OSError("EVP_DigestVerifyInit failed")
            ok = lib.EVP_DigestVerify(mctx, sig_der, len(sig_der), message, len(message))
            return ok == 1
        finally:
            lib.ERR_clear_error()
            if mctx:
                lib.EVP_MD_CTX_free(mctx)
            if pctx:
                lib.EVP_PKEY_CTX_free(pctx)
            lib.EVP_PKEY_free(pk)


class _GmsslSM2:
    """SM2 verification via the gmssl-pyx C extension (GmSSL 3)."""

    name = "gmssl-pyx"

    def verify(self, pub64: bytes, message: bytes, sig_der: bytes,
               user_id: bytes = DEFAULT_USER_ID) -> bool:
        try:
            return bool(gmssl_pyx.sm2_verify(pub64, message, sig_der, signer_id=user_id))
        except gmssl_pyx.GmsslInnerError:
            return False


def _pick_backend():
    try:
        return _LibcryptoSM2()
    except (OSError, AttributeError, ValueError):
        return _GmsslSM2()


_backend = _pick_backend()
gmssl_backend = _GmsslSM2()


def backend_name() -> str:
    return _backend.name


def sm2_verify(pub64: bytes, message: bytes, signature: bytes,
               user_id: bytes = DEFAULT_USER_ID) -> bool:
    """Verify an SM2-with-SM3 signature (DER or raw r||s) over ``message``.

    Returns False for a wrong signature; raises ValueError for a malformed
    key or signature encoding.
    """
    if len(pub64) == 65 and pub64[0] == 4:
        pub64 = pub64[1:]
    if len(pub64) != 64:
        raise ValueError(f"SM2 public key must be 64 bytes, got {len(pub64)}")
    sig_der, _ = normalize_signature(signature)
    return _backend.verify(pub64, message, sig_der, user_id)


def sm2_verify_der(pub64: bytes, message: bytes, sig_der: bytes,
                   user_id: bytes = DEFAULT_USER_ID) -> bool:
    """:func:`sm2_verify` for a signature already in canonical DER
    (from :func:`normalize_signature`)."""
    if len(pub64) == 65 and pub64[0] == 4:
        pub64 = pub64[1:]
    if len(pub64) != 64:
        raise ValueError(f"SM2 public key must be 64 bytes, got {len(pub64)}")
    return _backend.verify(pub64, message, sig_der, user_id)
