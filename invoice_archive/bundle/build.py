"""The auditor's voucher bundle: one zip that proves itself.

Layout (every path is listed in ``manifest.json`` except the manifest itself
and its signature)::

    README.txt                      how to check the bundle, in Chinese
    public_key.pem                  the service's manifest key (convenience copy)
    voucher/voucher.json            the 记账凭证 as JSON
    voucher/voucher.xml             the same voucher as XML
    claim/claim.json                the 报销单 with its sign-off trail (经办/审核/审批)
    invoices/NN/original.<ext>      each e-invoice, byte for byte as received
    invoices/NN/rendition.pdf       its rendition (the OFD's own pages, or the
                                    standard invoice layout for a 数电票 XML)
    invoices/NN/verification.json   the verification report recorded at intake
    invoices/NN/invoice.json        the invoice data read from the original
    reports/rules.json              the reimbursement rules report
    metadata/archive.json           archive metadata (档号, retention, ...)
    metadata/archive.xml            (when given) the archive metadata as XML
    audit/audit_log.json            the audit-log extract for this voucher
    manifest.json                   path, role, media type, size, SHA-256, SM3 of each file
    manifest.sig                    the manifest's signature (JSON: algorithm, key id, value)

The signature covers the exact bytes of ``manifest.json``; the manifest names
the algorithm and the key fingerprint, so neither can be swapped unnoticed.
"""
from __future__ import annotations

import base64
import datetime as dt
import io
import json
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from invoice_archive.digests import sha256_hex, sm3_hex

from .signing import ALGORITHM_LABELS, SM2_SIGNER_ID, SM2_SM3, ManifestSigner, key_fingerprint

BUNDLE_FORMAT = "invoice-archive-bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public_key.pem"
README = "README.txt"
_STORED = (".ofd", ".zip", ".pdf", ".png", ".jpg")


@dataclass(frozen=True)
class InvoiceFile:
    """One original e-invoice as it goes into the bundle.

    ``data``: the bytes exactly as received (OFD, 数电票 XML or PDF), never
    re-encoded.  ``filename``: the name it arrived under (only its extension and
    a sanitised stem are used inside the bundle).  ``verification``: the
    :meth:`VerificationReport.to_dict` recorded at intake; its ``verdict`` is
    what the offline verifier compares its own re-verification with.
    ``invoice``: the :meth:`InvoiceDocument.to_dict` recorded at intake
    (optional; read from ``data`` when absent).  ``rendition_pdf``: a rendition
    made earlier (optional; rendered here when absent).  ``business_key``: the
    invoice's identity, for the manifest's index (optional).
    """

    filename: str
    data: bytes
    verification: Mapping[str, Any]
    invoice: Mapping[str, Any] | None = None
    rendition_pdf: bytes | None = None
    business_key: str | None = None


@dataclass(frozen=True)
class BundleParts:
    """Everything one voucher's bundle holds, as plain data (no ORM objects).

    ``bundle_id``: a stable identifier, e.g. the 档号 or the voucher number
    (used in the manifest and the README).  ``voucher``: the 记账凭证 as JSON-able
    data (entries, amounts, period, operators).  ``voucher_xml``: the voucher's
    XML form; when None it is generated from ``voucher``.  ``claim``: the
    报销单 as JSON-able data, including its sign-off trail (e.g. a
    ``sign_offs`` list of {step 经办/审核/审批, who, at, decision, comment}).
    ``invoices``: the original e-invoices (see :class:`InvoiceFile`), in the
    voucher's order.  ``rules_report``: the reimbursement rules report.
    ``archive_metadata``: archive metadata (档号, 全宗号, 保管期限, four-property
    check results ...); ``archive_metadata_xml``: optionally the same as XML (as
    the archive package carries it).  ``audit_log``: the audit-log extract for
    this voucher, oldest first (who did what, when).  ``created_at``: when the
    bundle is made (UTC; defaults to now); also the zip members' timestamp, so
    equal parts and time give equal bytes.  ``issuer``: who made the bundle
    (service name / organisation), written into the manifest.
    """

    bundle_id: str
    voucher: Mapping[str, Any]
    claim: Mapping[str, Any]
    invoices: Sequence[InvoiceFile]
    rules_report: Mapping[str, Any] = field(default_factory=dict)
    archive_metadata: Mapping[str, Any] = field(default_factory=dict)
    audit_log: Sequence[Mapping[str, Any]] = ()
    voucher_xml: bytes | None = None
    archive_metadata_xml: bytes | None = None
    created_at: dt.datetime | None = None
    issuer: str = "invoice-archive"


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False, default=_default) + "\n").encode("utf-8")


def _default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    try:
        from decimal import Decimal

        if isinstance(value, Decimal):
            return str(value)
    except ImportError:  # pragma: no cover
        pass
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dict_to_xml(root_tag: str, value: Any) -> bytes:
    """A plain, namespace-free XML form of JSON-able data (lists become repeated
    ``item`` elements)."""
    def tag_name(key: str) -> str:
        name = re.sub(r"[^\w.-]", "_", str(key))
        return name if name and not name[0].isdigit() and not name.lower().startswith("xml") else f"f_{name}"

    def build(parent: ET.Element, val: Any) -> None:
        if isinstance(val, Mapping):
            for k, v in val.items():
                build(ET.SubElement(parent, tag_name(k)), v)
        elif isinstance(val, (list, tuple)):
            for v in val:
                build(ET.SubElement(parent, "item"), v)
        elif val is not None:
            parent.text = _default(val) if not isinstance(val, (str, int, float, bool)) else str(val)

    root = ET.Element(tag_name(root_tag))
    build(root, value)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def _extension(inv: InvoiceFile) -> str:
    data = inv.data
    if data[:4] == b"PK\x03\x04":
        return "ofd"
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
        return "xml"
    ext = posixpath.splitext(inv.filename or "")[1].lstrip(".").lower()
    return re.sub(r"[^a-z0-9]", "", ext) or "bin"


def _media_type(path: str) -> str:
    ext = posixpath.splitext(path)[1].lower()
    return {".ofd": "application/ofd", ".xml": "application/xml", ".json": "application/json",
            ".pdf": "application/pdf", ".pem": "application/x-pem-file", ".txt": "text/plain; charset=utf-8"
            }.get(ext, "application/octet-stream")


def _readme(parts: BundleParts, signer: ManifestSigner, created: str) -> bytes:
    alg = ALGORITHM_LABELS.get(signer.algorithm, signer.algorithm)
    text = f"""电子会计凭证审计包 {parts.bundle_id}
生成者: {parts.issuer}    生成时间: {created}
格式: {BUNDLE_FORMAT}

本包自证完整与来源，离线核验不需要数据库或网络:

  invoice-archive verify-bundle 本文件.zip --public-key 服务公布的公钥.pem

核验内容:
  1. manifest.sig 是 manifest.json 的 {alg} 签名（密钥指纹 SHA-256 {signer.key_id()}）。
     包内 public_key.pem 只能证明“包未被改动”，不能证明“来自本服务”:
     请用从本单位官方渠道取得的公钥核验来源。
  2. manifest.json 列出的每个文件都在、大小相同、SHA-256 与 SM3 摘要一致，且没有多余文件。
  3. invoices/ 下每张电子发票的原件逐字节保留；核验工具重新验证其电子签名并与
     verification.json 中记录的结论比较，重新读取发票并核对 rendition.pdf 中的
     发票号码、日期、金额。
"""
    return text.encode("utf-8")


def build_bundle(parts: BundleParts, signer: ManifestSigner) -> bytes:
    """Assemble the bundle zip (see the module docstring for its layout)."""
    created_at = (parts.created_at or dt.datetime.now(dt.timezone.utc))
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=dt.timezone.utc)
    created = created_at.astimezone(dt.timezone.utc).isoformat()

    files: list[tuple[str, str, bytes]] = []  # (path, role, bytes)
    index: list[dict[str, Any]] = []
    files.append((README, "readme", _readme(parts, signer, created)))
    files.append((PUBLIC_KEY, "public_key", signer.public_key_pem()))
    files.append(("voucher/voucher.json", "voucher", _json_bytes(dict(parts.voucher))))
    files.append(("voucher/voucher.xml", "voucher_xml",
                  parts.voucher_xml if parts.voucher_xml is not None else dict_to_xml("voucher", parts.voucher)))
    files.append(("claim/claim.json", "claim", _json_bytes(dict(parts.claim))))
    for n, inv in enumerate(parts.invoices, start=1):
        folder = f"invoices/{n:02d}"
        original = f"{folder}/original.{_extension(inv)}"
        doc_dict = dict(inv.invoice) if inv.invoice is not None else None
        rendition = inv.rendition_pdf
        if doc_dict is None or rendition is None:
            doc = _read(inv.data)
            if doc_dict is None and doc is not None:
                doc_dict = doc.to_dict()
            if rendition is None:
                rendition = _render(inv.data, doc)
        files.append((original, "original", inv.data))
        entry: dict[str, Any] = {
            "index": n,
            "original": original,
            "original_filename": inv.filename,
            "business_key": inv.business_key or (doc_dict or {}).get("business_key"),
            "recorded_verdict": inv.verification.get("verdict"),
            "verification": f"{folder}/verification.json",
        }
        if rendition is not None:
            files.append((f"{folder}/rendition.pdf", "rendition", rendition))
            entry["rendition"] = f"{folder}/rendition.pdf"
        files.append((f"{folder}/verification.json", "verification_report", _json_bytes(dict(inv.verification))))
        if doc_dict is not None:
            files.append((f"{folder}/invoice.json", "invoice_data", _json_bytes(doc_dict)))
            entry["invoice"] = f"{folder}/invoice.json"
        index.append(entry)
    files.append(("reports/rules.json", "rules_report", _json_bytes(dict(parts.rules_report))))
    files.append(("metadata/archive.json", "archive_metadata", _json_bytes(dict(parts.archive_metadata))))
    if parts.archive_metadata_xml is not None:
        files.append(("metadata/archive.xml", "archive_metadata_xml", parts.archive_metadata_xml))
    files.append(("audit/audit_log.json", "audit_log", _json_bytes([dict(e) for e in parts.audit_log])))

    paths = [p for p, _r, _d in files]
    if len(set(paths)) != len(paths):  # pragma: no cover - paths are generated
        raise ValueError("duplicate paths in bundle")
    signature_info: dict[str, Any] = {
        "algorithm": signer.algorithm,
        "key_id": key_fingerprint(signer.public_key_pem()),
        "public_key_file": PUBLIC_KEY,
    }
    if signer.algorithm == SM2_SM3:
        signature_info["signer_id"] = SM2_SIGNER_ID.decode("ascii")
    manifest = {
        "format": BUNDLE_FORMAT,
        "bundle_id": parts.bundle_id,
        "issuer": parts.issuer,
        "created_at": created,
        "signature": signature_info,
        "digest_algorithms": ["sha256", "sm3"],
        "files": [
            {"path": p, "role": r, "media_type": _media_type(p), "size": len(d),
             "sha256": sha256_hex(d), "sm3": sm3_hex(d)}
            for p, r, d in files
        ],
        "invoices": index,
    }
    manifest_bytes = _json_bytes(manifest)
    sig = signer.sign(manifest_bytes)
    sig_doc = {
        "signed_file": MANIFEST,
        "algorithm": signer.algorithm,
        "key_id": signature_info["key_id"],
        **({"signer_id": signature_info["signer_id"]} if "signer_id" in signature_info else {}),
        "signature": base64.b64encode(sig).decode("ascii"),
    }
    return _zip([(MANIFEST, manifest_bytes), (SIGNATURE, _json_bytes(sig_doc))]
                + [(p, d) for p, _r, d in files], created_at)


def _read(data: bytes):
    from invoice_archive.formats import read_invoice

    try:
        return read_invoice(data)
    except Exception:
        return None


def _render(data: bytes, doc) -> bytes | None:
    from invoice_archive.render import render_invoice_pdf

    try:
        return render_invoice_pdf(data, doc)
    except Exception:
        return None


def _zip(members: list[tuple[str, bytes]], when: dt.datetime) -> bytes:
    stamp = when.astimezone(dt.timezone.utc).timetuple()[:6]
    if stamp[0] < 1980:  # pragma: no cover - zip cannot hold it
        stamp = (1980, 1, 1, 0, 0, 0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, data in members:
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED if path.lower().endswith(_STORED) else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.flag_bits |= 0x800  # UTF-8 names
            zf.writestr(info, data)
    return buf.getvalue()
