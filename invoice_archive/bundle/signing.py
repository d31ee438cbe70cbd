"""The service's own signing key for bundle manifests: Ed25519 or SM2-with-SM3.

A bundle's ``manifest.json`` is signed by the service so that an auditor who
holds the published public key can prove the bundle came from us and was not
changed.  Two algorithms, chosen by setting (``bundle.signing_algorithm``):

* ``ed25519`` -- RFC 8032, via :mod:`cryptography`; keys in PKCS#8 / SPKI PEM.
* ``sm2-sm3`` -- SM2 signature with SM3 (GB/T 32918, GM/T 0009 default user ID
  ``1234567812345678``), via :mod:`gmssl_pyx`; keys in PKCS#8 / SPKI PEM with
  id-ecPublicKey and the SM2 curve OID 1.2.156.10197.1.301 (encoded with
  :mod:`asn1crypto`), as OpenSSL 3 and GmSSL write them.

Keys are loaded from PEM files (:func:`load_signer`) or generated for
development (:func:`generate_key`).  :meth:`ManifestSigner.public_key_pem` is
what the service publishes; :func:`verify_signature` is the offline check.
"""
from __future__ import annotations

import abc
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import gmssl_pyx
from asn1crypto import keys as _keys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

if TYPE_CHECKING:
    from invoice_archive.settings import BundleSettings

ED25519 = "ed25519"
SM2_SM3 = "sm2-sm3"
ALGORITHMS = (ED25519, SM2_SM3)
ALGORITHM_LABELS = {ED25519: "Ed25519", SM2_SM3: "SM2-with-SM3"}
SM2_SIGNER_ID = bytes(gmssl_pyx.SM2_DEFAULT_SIGNER_ID)  # b"1234567812345678"
SM2_CURVE_OID = "1.2.156.10197.1.301"

try:  # teach asn1crypto the SM2 curve (idempotent: re-registering is harmless)
    _keys.NamedCurve.register("sm2p256v1", SM2_CURVE_OID, 32)
except Exception:  # pragma: no cover - older/newer asn1crypto
    pass


class SigningKeyError(ValueError):
    """A key file that cannot be used (wrong algorithm, malformed PEM ...)."""


class ManifestSigner(abc.ABC):
    """Signs manifest bytes with the service's private key."""

    algorithm: str

    @abc.abstractmethod
    def sign(self, data: bytes) -> bytes:
        """The raw signature over ``data``."""

    @abc.abstractmethod
    def public_key_pem(self) -> bytes:
        """The public key (SubjectPublicKeyInfo PEM) to publish."""

    @abc.abstractmethod
    def private_key_pem(self) -> bytes:
        """The private key (unencrypted PKCS#8 PEM), for writing key files."""

    def key_id(self) -> str:
        """SHA-256 fingerprint (hex) of the DER public key."""
        return key_fingerprint(self.public_key_pem())

    def describe(self) -> Mapping[str, Any]:
        return {"algorithm": self.algorithm, "key_id": self.key_id(),
                **({"signer_id": SM2_SIGNER_ID.decode("ascii")} if self.algorithm == SM2_SM3 else {})}


class Ed25519Signer(ManifestSigner):
    algorithm = ED25519

    def __init__(self, private_key: ed25519.Ed25519PrivateKey) -> None:
        self._key = private_key

    @classmethod
    def generate(cls) -> Ed25519Signer:
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes) -> Ed25519Signer:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"Ed25519 私钥无法读取: {exc}") from None
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise SigningKeyError("私钥不是 Ed25519 密钥")
        return cls(key)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def private_key_pem(self) -> bytes:
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())


class Sm2Signer(ManifestSigner):
    algorithm = SM2_SM3

    def __init__(self, private_key: bytes, public_key: bytes) -> None:
        if len(private_key) != 32 or len(public_key) != 64:
            raise SigningKeyError("SM2 密钥长度不对（私钥 32 字节，公钥 64 字节 x||y）")
        self._private = bytes(private_key)
        self._public = bytes(public_key)

    @classmethod
    def generate(cls) -> Sm2Signer:
        public, private = gmssl_pyx.sm2_key_generate()
        return cls(bytes(private), bytes(public))

    @classmethod
    def from_pem(cls, pem: bytes) -> Sm2Signer:
        der = _pem_body(pem, "PRIVATE KEY")
        try:
            info = _keys.PrivateKeyInfo.load(der)
            alg = info["private_key_algorithm"]
            if alg["algorithm"].native != "ec":
                raise SigningKeyError("私钥不是 SM2 (EC) 密钥")
            curve = alg["parameters"].chosen.dotted if alg["parameters"].name == "named" else None
            if curve != SM2_CURVE_OID:
                raise SigningKeyError(f"私钥曲线 {curve} 不是 SM2 ({SM2_CURVE_OID})")
            ec = info["private_key"].parsed
            private = ec["private_key"].contents.rjust(32, b"\x00")[-32:]
            point = ec["public_key"].native if ec["public_key"].native is not None else None
        except SigningKeyError:
            raise
        except Exception as exc:
            raise SigningKeyError(f"SM2 私钥无法读取: {exc}") from None
        if not point or len(point) != 65 or point[0] != 4:
            raise SigningKeyError("SM2 私钥文件缺少未压缩公钥点")
        return cls(private, point[1:])

    def sign(self, data: bytes) -> bytes:
        return bytes(gmssl_pyx.sm2_sign(self._private, self._public, data))

    def public_key_pem(self) -> bytes:
        return _pem(sm2_spki(self._public), "PUBLIC KEY")

    def private_key_pem(self) -> bytes:
        ec = _keys.ECPrivateKey({
            "version": "ecPrivkeyVer1",
            "private_key": int.from_bytes(self._private, "big"),
            "public_key": b"\x04" + self._public,
        })
        info = _keys.PrivateKeyInfo({
            "version": 0,
            "private_key_algorithm": _keys.PrivateKeyAlgorithm({
                "algorithm": "ec",
                "parameters": _keys.ECDomainParameters(name="named", value=SM2_CURVE_OID),
            }),
            "private_key": ec,
        })
        return _pem(info.dump(), "PRIVATE KEY")


# --- public keys and verification ---------------------------------------------------

def sm2_spki(public64: bytes) -> bytes:
    info = _keys.PublicKeyInfo({
        "algorithm": _keys.PublicKeyAlgorithm({
            "algorithm": "ec",
            "parameters": _keys.ECDomainParameters(name="named", value=SM2_CURVE_OID),
        }),
        "public_key": b"\x04" + public64,
    })
    return info.dump()


def key_fingerprint(public_key_pem: bytes) -> str:
    """SHA-256 (hex) of the DER SubjectPublicKeyInfo; the PEM's line breaks don't matter."""
    return hashlib.sha256(_pem_body(public_key_pem, "PUBLIC KEY")).hexdigest()


def public_key_algorithm(public_key_pem: bytes) -> str:
    """``ed25519`` or ``sm2-sm3`` for a SubjectPublicKeyInfo PEM (SigningKeyError otherwise)."""
    return _load_public(public_key_pem)[0]


def _load_public(public_key_pem: bytes) -> tuple[str, Any]:
    der = _pem_body(public_key_pem, "PUBLIC KEY")
    try:
        info = _keys.PublicKeyInfo.load(der)
        alg = info["algorithm"]["algorithm"].native
        if alg == "ed25519":
            return ED25519, ed25519.Ed25519PublicKey.from_public_bytes(info["public_key"].native)
        if alg == "ec":
            params = info["algorithm"]["parameters"]
            curve = params.chosen.dotted if params.name == "named" else None
            if curve != SM2_CURVE_OID:
                raise SigningKeyError(f"公钥曲线 {curve} 不是 SM2")
            point = info["public_key"].native
            if len(point) != 65 or point[0] != 4:
                raise SigningKeyError("SM2 公钥不是未压缩点")
            return SM2_SM3, point[1:]
    except SigningKeyError:
        raise
    except Exception as exc:
        raise SigningKeyError(f"公钥无法读取: {exc}") from None
    raise SigningKeyError(f"不支持的公钥算法 {alg}")


def verify_signature(public_key_pem: bytes, algorithm: str, data: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid ``algorithm`` signature over ``data``.

    Raises :class:`SigningKeyError` when the key is unreadable or is not a key of
    ``algorithm`` (a signature can only be checked with a key of its own kind).
    """
    kind, key = _load_public(public_key_pem)
    if kind != algorithm:
        raise SigningKeyError(f"公钥算法 {ALGORITHM_LABELS.get(kind, kind)} 与签名算法 "
                              f"{ALGORITHM_LABELS.get(algorithm, algorithm)} 不一致")
    if kind == ED25519:
        try:
            key.verify(signature, data)
            return True
        except InvalidSignature:
            return False
    try:
        return bool(gmssl_pyx.sm2_verify(key, data, signature))
    except Exception:  # malformed DER signature
        return False


# --- files and settings -------------------------------------------------------------

def new_signer(algorithm: str) -> ManifestSigner:
    if algorithm == ED25519:
        return Ed25519Signer.generate()
    if algorithm == SM2_SM3:
        return Sm2Signer.generate()
    raise SigningKeyError(f"不支持的签名算法 {algorithm!r}（可选: {', '.join(ALGORITHMS)}）")


def signer_from_pem(pem: bytes, algorithm: str | None = None) -> ManifestSigner:
    """A signer from a PKCS#8 PEM private key; the algorithm is read from the key
    (and must equal ``algorithm`` when one is given)."""
    der = _pem_body(pem, "PRIVATE KEY")
    try:
        kind = _keys.PrivateKeyInfo.load(der)["private_key_algorithm"]["algorithm"].native
    except Exception as exc:
        raise SigningKeyError(f"私钥无法读取: {exc}") from None
    found = ED25519 if kind == "ed25519" else SM2_SM3 if kind == "ec" else kind
    if algorithm and found != algorithm:
        raise SigningKeyError(f"私钥是 {found}，但设置要求 {algorithm}")
    return Ed25519Signer.from_pem(pem) if found == ED25519 else Sm2Signer.from_pem(pem)


def load_signer(path: str | os.PathLike[str], algorithm: str | None = None) -> ManifestSigner:
    """Load the service's signing key from a PEM file."""
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"签名私钥文件 {path} 无法读取: {exc.strerror or exc}") from None
    return signer_from_pem(pem, algorithm)


def generate_key(algorithm: str, path: str | os.PathLike[str]) -> ManifestSigner:
    """Generate a key for development and write it to ``path`` (private, mode 0600)
    and ``path`` + ``.pub`` (public key PEM)."""
    signer = new_signer(algorithm)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(signer.private_key_pem())
    target.with_name(target.name + ".pub").write_bytes(signer.public_key_pem())
    return signer


def signer_from_settings(bundle: BundleSettings) -> ManifestSigner:
    """The signer ``Settings.bundle`` describes: ``bundle.signing_algorithm``
    (ed25519 | sm2-sm3, default ed25519; checked by the settings' parse) and
    ``bundle.signing_key`` (path of the PEM private key).  With
    ``bundle.signing_key_generate = true`` a missing key file is generated
    (development only); otherwise a missing key fails at start-up."""
    algorithm = bundle.signing_algorithm
    if algorithm not in ALGORITHMS:
        raise SigningKeyError(f"bundle.signing_algorithm={algorithm!r} 不支持（可选: {', '.join(ALGORITHMS)}）")
    path = bundle.signing_key
    if path is None:
        raise SigningKeyError("未设置 bundle.signing_key（清单签名私钥的 PEM 文件路径）")
    if not Path(path).exists() and bundle.signing_key_generate:
        return generate_key(algorithm, path)
    return load_signer(path, algorithm)


# --- PEM ------------------------------------------------------------------------------

def _pem(der: bytes, label: str) -> bytes:
    import base64

    b64 = base64.b64encode(der).decode("ascii")
    body = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode("ascii")


def _pem_body(pem: bytes | str, label: str) -> bytes:
    import base64
    import binascii

    text = pem.decode("ascii", "replace") if isinstance(pem, bytes) else pem
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    start = text.find(begin)
    stop = text.find(end, start + 1)
    if start < 0 or stop < 0:
        raise SigningKeyError(f"不是 PEM 格式的 {label}")
    try:
        return base64.b64decode("".join(text[start + len(begin):stop].split()), validate=True)
    except (binascii.Error, ValueError):
        raise SigningKeyError(f"PEM {label} 的 base64 内容损坏") from None
