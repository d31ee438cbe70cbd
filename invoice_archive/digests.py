"""Digests of bytes as received: SHA-256 and SM3 (GB/T 32905).

SM3 comes from hashlib where OpenSSL has it, otherwise from the native GmSSL
binding (gmssl-pyx); the signature verifier uses the same function.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable


def _sm3_prototype() -> Any:
    try:
        return hashlib.new("sm3")
    except ValueError:   # OpenSSL built without SM3
        return None


# hashlib.new("sm3", ...) looks the algorithm up by name in OpenSSL on every call, which
# costs more than hashing a few KiB; copying a fresh context does not (hashlib's copy()
# takes the object's lock, so threads may share it)
_SM3 = _sm3_prototype()


def _pick_sm3() -> Callable[[bytes], bytes]:
    if _SM3 is None:
        import gmssl_pyx

        return lambda data: bytes(gmssl_pyx.sm3_hash(data))

    def sm3(data: bytes) -> bytes:
        h = _SM3.copy()
        h.update(data)
        return h.digest()

    return sm3


#: SM3 of bytes, as 32 raw bytes
sm3_digest: Callable[[bytes], bytes] = _pick_sm3()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sm3_hex(data: bytes) -> str:
    return sm3_digest(data).hex()


class _WholeSM3:
    """SM3 over chunks where hashlib has none (gmssl-pyx hashes whole messages only):
    the chunks are kept and hashed at the end, so the object is held in memory."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def update(self, data: bytes | memoryview) -> None:
        self._parts.append(bytes(data))

    def hexdigest(self) -> str:
        return sm3_digest(b"".join(self._parts)).hex()


def sm3_hasher() -> Any:
    """An incremental SM3 (``update``, ``hexdigest``), as hashlib's objects are."""
    return _WholeSM3() if _SM3 is None else _SM3.copy()
