"""A signed statement about a document's SHA-256: how the deployment vouches for an
acceptance report (docs/acceptance.md), checked offline with the published key.

The service signs the exact UTF-8 bytes of a small JSON object whose ``kind``
names what is vouched for, so a signature made for one purpose cannot be passed
off for another: an audit bundle's ``manifest.json`` has no ``kind`` and always
lists files, an audit checkpoint signs its own hash. The statement travels as
text beside the signature and is parsed only after the signature is checked.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

from .signing import ManifestSigner, SigningKeyError, key_fingerprint, verify_signature

REPORT_KIND = "invoice-archive/acceptance-report"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def statement_bytes(statement: Mapping[str, Any]) -> bytes:
    """The canonical bytes that are signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(statement, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign_statement(signer: ManifestSigner, statement: Mapping[str, Any]) -> dict[str, Any]:
    """The statement as signed text, with its signature, algorithm, key id and public key."""
    if statement.get("kind") != REPORT_KIND:
        raise ValueError(f"a statement's kind must be {REPORT_KIND!r}")
    data = statement_bytes({**statement, "algorithm": signer.algorithm, "key_id": signer.key_id()})
    return {"statement": data.decode("utf-8"), "signature": base64.b64encode(signer.sign(data)).decode("ascii"),
            "algorithm": signer.algorithm, "key_id": signer.key_id(),
            "public_key": signer.public_key_pem().decode("ascii")}


@dataclass(frozen=True)
class StatementCheck:
    ok: bool
    problems: tuple[str, ...]
    statement: Mapping[str, Any]


def verify_statement(signed: Mapping[str, Any], public_key_pem: bytes, *,
                     expected_sha256: str | None = None) -> StatementCheck:
    """Check a signed statement with the published public key: the signature over the
    statement's exact bytes, its kind, the key it names, and (when given) the SHA-256
    it vouches for. Every problem is reported in Chinese, none is fatal to the others."""
    problems: list[str] = []
    text = signed.get("statement")
    if not isinstance(text, str):
        return StatementCheck(False, ("签名文件中没有声明（statement）",), {})
    data = text.encode("utf-8")
    try:
        signature = base64.b64decode(str(signed.get("signature", "")), validate=True)
    except (binascii.Error, ValueError):
        return StatementCheck(False, ("签名不是有效的 Base64",), {})
    try:
        statement = json.loads(text)
    except ValueError:
        return StatementCheck(False, ("声明不是有效的 JSON",), {})
    if not isinstance(statement, dict):
        return StatementCheck(False, ("声明不是 JSON 对象",), {})
    algorithm = str(statement.get("algorithm", ""))
    try:
        good = verify_signature(public_key_pem, algorithm, data, signature)
    except SigningKeyError as exc:
        return StatementCheck(False, (f"公钥不能用于核验：{exc}",), statement)
    if not good:
        problems.append("签名无效：声明在签名后被改动，或不是由该公钥对应的私钥签署")
    if statement.get("kind") != REPORT_KIND:
        problems.append(f"声明的类型是 {statement.get('kind')!r}，不是验收报告（{REPORT_KIND}）")
    try:
        fingerprint = key_fingerprint(public_key_pem)
    except SigningKeyError as exc:
        problems.append(f"公钥无法读取：{exc}")
    else:
        if statement.get("key_id") != fingerprint:
            problems.append(f"声明所称的签名密钥 {str(statement.get('key_id'))[:16]}… 不是所给的公钥 {fingerprint[:16]}…")
    if expected_sha256 is not None and statement.get("report_sha256") != expected_sha256:
        problems.append(f"声明所证明的 SHA-256 {statement.get('report_sha256')} 与报告的 {expected_sha256} 不符")
    return StatementCheck(not problems, tuple(problems), statement)


__all__ = ["REPORT_KIND", "SHA256_RE", "StatementCheck", "sign_statement", "statement_bytes", "verify_statement"]
