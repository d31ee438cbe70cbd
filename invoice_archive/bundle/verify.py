"""The offline bundle verifier: no database, no network, nothing of ours to trust
but the code an auditor can read and the public key we published.

:func:`verify_bundle` runs named checks, each with a Chinese detail:

* ``bundle_readable`` -- the zip opens, no duplicate, unsafe or oversized entry;
* ``manifest_readable`` -- ``manifest.json`` is there and well formed;
* ``signature_present`` / ``signature_valid`` -- ``manifest.sig`` is a valid
  signature of the exact manifest bytes, under the given public key or else the
  key embedded in the bundle; ``signature_key_matches`` -- the key is the one the
  manifest names; ``signature_origin`` -- *pass* only with a key given from
  outside (an embedded key alone proves integrity, not origin: *warning*);
* ``file_present``, ``file_size``, ``file_sha256``, ``file_sm3`` per listed
  file, and ``extra_file`` for every member the manifest does not list;
* per invoice: ``invoice_signature`` (re-verified with
  :mod:`invoice_archive.verification`, the intake's own code, and compared with
  the recorded verdict), ``invoice_readable`` and ``invoice_data_matches``
  (re-read with :func:`invoice_archive.formats.read_invoice` and compared with
  the recorded data), ``rendition_matches`` (the PDF rendition's text holds the
  number, the date and the total).
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from invoice_archive.digests import sha256_hex, sm3_hex

from .build import BUNDLE_FORMAT, MANIFEST, PUBLIC_KEY, SIGNATURE
from .signing import ALGORITHM_LABELS, SigningKeyError, key_fingerprint, verify_signature

Result = Literal["pass", "fail", "warning", "not_checked"]
MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 256 * 1024 * 1024
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
RESULT_LABELS = {"pass": "通过", "fail": "失败", "warning": "警告", "not_checked": "未检查"}
VERDICT_LABELS = {
    "valid": "有效", "valid_with_warning": "有效（有警告）", "tampered": "已被篡改",
    "invalid": "签名无效", "unsigned": "未签名", "present_not_verifiable": "有签名但无法离线验证",
}
STATUS_LABELS = {
    "pass": "通过：完整、未被改动，来源已由提供的公钥证明",
    "pass_integrity_only": "完整、未被改动；但只用了包内自带的公钥，不能证明来源",
    "fail": "未通过",
}


@dataclass(frozen=True)
class BundleCheck:
    code: str
    result: Result
    detail: str = ""
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "result": self.result, "detail": self.detail, "file": self.file}


@dataclass(frozen=True)
class BundleReport:
    """``status``: ``pass`` (everything checked, origin proven by the given key),
    ``pass_integrity_only`` (nothing failed, but only the embedded key was
    available), ``fail`` (some check failed).  ``key_source``: ``given``,
    ``embedded`` or None (no usable key)."""

    checks: tuple[BundleCheck, ...]
    key_source: str | None
    bundle_id: str | None = None
    algorithm: str | None = None
    key_id: str | None = None
    created_at: str | None = None
    file_count: int = 0
    invoice_count: int = 0
    verified_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    @property
    def failed(self) -> tuple[BundleCheck, ...]:
        return tuple(c for c in self.checks if c.result == "fail")

    @property
    def warnings(self) -> tuple[BundleCheck, ...]:
        return tuple(c for c in self.checks if c.result == "warning")

    @property
    def ok(self) -> bool:
        """No check failed (origin may still be unproven: see :attr:`status`)."""
        return not self.failed

    @property
    def status(self) -> str:
        if self.failed:
            return "fail"
        return "pass" if self.key_source == "given" else "pass_integrity_only"

    def failed_codes(self) -> set[str]:
        return {c.code for c in self.failed}

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "ok": self.ok, "bundle_id": self.bundle_id,
            "key_source": self.key_source, "algorithm": self.algorithm, "key_id": self.key_id,
            "created_at": self.created_at, "file_count": self.file_count,
            "invoice_count": self.invoice_count, "verified_at": self.verified_at.isoformat(),
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_text(self, *, verbose: bool = False) -> str:
        lines = [f"审计包 {self.bundle_id or '(未知)'}: {STATUS_LABELS[self.status]}"]
        if self.algorithm:
            source = {"given": "外部提供的公钥", "embedded": "包内自带的公钥"}.get(self.key_source or "", "无可用公钥")
            lines.append(f"  清单签名: {ALGORITHM_LABELS.get(self.algorithm, self.algorithm)}，"
                         f"密钥指纹 {self.key_id or '?'}，核验所用: {source}")
        lines.append(f"  生成时间: {self.created_at or '?'}；文件 {self.file_count} 个，电子发票 {self.invoice_count} 张")
        passed = 0
        for c in self.checks:
            if c.result == "pass" and not verbose:
                passed += 1
                continue
            where = f" [{c.file}]" if c.file else ""
            lines.append(f"  {RESULT_LABELS[c.result]:<3} {c.code}{where}: {c.detail}")
        if passed:
            lines.append(f"  另有 {passed} 项检查通过" + ("" if verbose else "（--verbose 显示）"))
        counts = {r: sum(1 for c in self.checks if c.result == r) for r in RESULT_LABELS}
        lines.append("  合计: " + "，".join(f"{RESULT_LABELS[r]} {n}" for r, n in counts.items() if n))
        return "\n".join(lines) + "\n"


class _Checks:
    def __init__(self) -> None:
        self.items: list[BundleCheck] = []

    def add(self, code: str, result: Result, detail: str, file: str | None = None) -> bool:
        self.items.append(BundleCheck(code, result, detail, file))
        return result == "pass"


def verify_bundle(zip_bytes: bytes, public_key_pem: bytes | str | None = None, *,
                  trust_store: Any = None) -> BundleReport:
    """Check a bundle offline.  ``public_key_pem``: the service's published key
    (proves origin); without it the key inside the bundle is used (integrity only).
    ``trust_store``: an :class:`invoice_archive.verification.TrustStore` for the
    invoices' certificate chains (optional, as at intake)."""
    checks = _Checks()
    if isinstance(public_key_pem, str):
        public_key_pem = public_key_pem.encode("ascii", "replace")
    members = _open(zip_bytes, checks)
    if members is None:
        return BundleReport(tuple(checks.items), None)

    manifest_bytes = members.get(MANIFEST)
    manifest: dict[str, Any] | None = None
    if manifest_bytes is None:
        if any(name == "bagit.txt" or name.endswith("/bagit.txt") for name in members):
            # the archive package (归档包, a BagIt bag), not the voucher's audit bundle (审计包)
            checks.add("manifest_readable", "fail",
                       "缺少 manifest.json：这是归档包（BagIt，GET /api/v1/archive/items/{id}/package），"
                       "不是审计包。归档包解压后用 sha256sum -c manifest-sha256.txt 核验；"
                       "审计包请从 GET /api/v1/vouchers/{id}/bundle 或审计页面的“下载审计包”获取", MANIFEST)
        else:
            checks.add("manifest_readable", "fail", "缺少 manifest.json（文件清单），无法核验", MANIFEST)
    else:
        try:
            manifest = json.loads(manifest_bytes.decode("utf-8"))
            if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
                raise ValueError("缺少 files 列表")
            fmt = manifest.get("format")
            if fmt != BUNDLE_FORMAT:
                checks.add("manifest_readable", "warning", f"清单格式 {fmt!r} 不是 {BUNDLE_FORMAT}，按其尝试核验", MANIFEST)
            else:
                checks.add("manifest_readable", "pass", f"清单可读，列出 {len(manifest['files'])} 个文件", MANIFEST)
        except (UnicodeDecodeError, ValueError) as exc:
            checks.add("manifest_readable", "fail", f"manifest.json 不是有效的 JSON 清单: {exc}", MANIFEST)
            manifest = None

    key_source, algorithm, key_id = _check_signature(members, manifest_bytes, manifest, public_key_pem, checks)
    if manifest is None:
        return BundleReport(tuple(checks.items), key_source, algorithm=algorithm, key_id=key_id)

    listed = _check_files(members, manifest, checks)
    invoices = manifest.get("invoices") if isinstance(manifest.get("invoices"), list) else []
    for entry in invoices:
        if isinstance(entry, dict):
            _check_invoice(members, listed, entry, checks, trust_store)
    return BundleReport(
        tuple(checks.items), key_source, bundle_id=_s(manifest.get("bundle_id")), algorithm=algorithm,
        key_id=key_id, created_at=_s(manifest.get("created_at")), file_count=len(listed),
        invoice_count=len(invoices))


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


# --- the zip ---------------------------------------------------------------------

def _open(zip_bytes: bytes, checks: _Checks) -> dict[str, bytes] | None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(zip_bytes))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        checks.add("bundle_readable", "fail", f"不是可读的 zip 审计包: {exc}")
        return None
    if len(infos) > MAX_MEMBERS:
        checks.add("bundle_readable", "fail", f"包内条目过多 ({len(infos)} > {MAX_MEMBERS})")
        return None
    members: dict[str, bytes] = {}
    total = 0
    problems: list[str] = []
    for info in infos:
        name = info.filename
        if info.is_dir():
            continue
        if name.startswith(("/", "\\")) or ".." in name.split("/") or "\\" in name:
            problems.append(f"不安全的路径 {name!r}")
            continue
        if name in members:
            problems.append(f"重复的条目 {name}")
            continue
        if info.file_size > MAX_MEMBER_BYTES or total + info.file_size > MAX_TOTAL_BYTES:
            problems.append(f"条目 {name} 过大 ({info.file_size} 字节)")
            continue
        try:
            with zf.open(info) as fh:
                data = fh.read(MAX_MEMBER_BYTES + 1)
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError, NotImplementedError) as exc:
            problems.append(f"条目 {name} 无法解压: {exc}")
            continue
        total += len(data)
        members[name] = data
    if problems:
        for p in problems:
            checks.add("bundle_readable", "fail", p)
    else:
        checks.add("bundle_readable", "pass", f"zip 可读，共 {len(members)} 个文件")
    return members


# --- the signature ----------------------------------------------------------------

def _check_signature(members: dict[str, bytes], manifest_bytes: bytes | None, manifest: dict | None,
                     given_key: bytes | None, checks: _Checks) -> tuple[str | None, str | None, str | None]:
    sig_bytes = members.get(SIGNATURE)
    declared = manifest.get("signature") if isinstance(manifest, dict) and isinstance(manifest.get("signature"), dict) else {}
    algorithm = declared.get("algorithm")
    key_id = declared.get("key_id")
    if sig_bytes is None:
        checks.add("signature_present", "fail", "缺少 manifest.sig（清单签名），无法证明清单未被改动", SIGNATURE)
        return None, algorithm, key_id
    try:
        sig_doc = json.loads(sig_bytes.decode("utf-8"))
        value = base64.b64decode(sig_doc["signature"], validate=True)
        sig_alg = sig_doc.get("algorithm")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, binascii.Error) as exc:
        checks.add("signature_present", "fail", f"manifest.sig 无法解析: {exc}", SIGNATURE)
        return None, algorithm, key_id
    checks.add("signature_present", "pass", f"有清单签名（{ALGORITHM_LABELS.get(sig_alg, sig_alg)}）", SIGNATURE)
    if algorithm and sig_alg != algorithm:
        checks.add("signature_valid", "fail",
                   f"签名文件声明的算法 {sig_alg} 与清单中记录的 {algorithm} 不一致", SIGNATURE)
        return None, algorithm, key_id
    algorithm = algorithm or sig_alg
    if manifest_bytes is None:
        checks.add("signature_valid", "fail", "没有清单可供核验签名", SIGNATURE)
        return None, algorithm, key_id

    if given_key is not None:
        key, source = given_key, "given"
    else:
        key, source = members.get(PUBLIC_KEY), "embedded"
        if key is None:
            checks.add("signature_valid", "fail", "未提供公钥，包内也没有 public_key.pem，无法核验签名", SIGNATURE)
            return None, algorithm, key_id
    try:
        fingerprint = key_fingerprint(key)
        good = verify_signature(key, str(algorithm), manifest_bytes, value)
    except SigningKeyError as exc:
        who = "提供的公钥" if source == "given" else "包内公钥"
        checks.add("signature_valid", "fail", f"{who}不能用于核验: {exc}", SIGNATURE)
        return source, algorithm, key_id
    who = "提供的公钥" if source == "given" else "包内自带的公钥"
    if good:
        checks.add("signature_valid", "pass", f"清单签名有效（用{who}，指纹 {fingerprint[:16]}…）", SIGNATURE)
    else:
        detail = f"清单签名无效（用{who}，指纹 {fingerprint[:16]}…）：清单或签名被改动"
        if source == "given" and key_id and key_id != fingerprint:
            detail += f"，或该包并非由此公钥的持有者签发（包声明的密钥指纹 {key_id[:16]}…）"
        checks.add("signature_valid", "fail", detail, SIGNATURE)
    if key_id and key_id != fingerprint:
        checks.add("signature_key_matches", "fail",
                   f"{who}（指纹 {fingerprint[:16]}…）不是清单声明的签名密钥（{key_id[:16]}…）", SIGNATURE)
    elif key_id:
        checks.add("signature_key_matches", "pass", "公钥即清单声明的签名密钥", SIGNATURE)
    if source == "given":
        if good:
            checks.add("signature_origin", "pass", "签名由提供的公钥核验通过：来源得到证明", SIGNATURE)
    elif good:
        checks.add("signature_origin", "warning",
                   "只用了包内自带的公钥：这只证明包内文件与清单一致、未被改动，不能证明来自本服务；"
                   "请用从官方渠道取得的公钥 (--public-key) 核验来源", SIGNATURE)
    if members.get(PUBLIC_KEY) is not None and given_key is not None:
        try:
            if key_fingerprint(members[PUBLIC_KEY]) != fingerprint:
                checks.add("embedded_key", "warning", "包内 public_key.pem 与提供的公钥不同", PUBLIC_KEY)
        except SigningKeyError:
            checks.add("embedded_key", "warning", "包内 public_key.pem 无法读取", PUBLIC_KEY)
    return source, algorithm, key_id


# --- the files --------------------------------------------------------------------------

def _check_files(members: dict[str, bytes], manifest: dict, checks: _Checks) -> dict[str, dict]:
    listed: dict[str, dict] = {}
    for entry in manifest.get("files", []):
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str):
            checks.add("manifest_readable", "fail", f"清单中有无效条目: {entry!r:.80}")
            continue
        if path in listed or path in (MANIFEST, SIGNATURE):
            checks.add("manifest_readable", "fail", f"清单重复列出或列出了不应列出的文件 {path}", path)
            continue
        listed[path] = entry
        data = members.get(path)
        if data is None:
            checks.add("file_present", "fail", f"清单列出的文件缺失: {path}", path)
            continue
        checks.add("file_present", "pass", "文件存在", path)
        size = entry.get("size")
        if size != len(data):
            checks.add("file_size", "fail", f"大小不符: 清单记录 {size} 字节，实际 {len(data)} 字节", path)
        else:
            checks.add("file_size", "pass", f"大小一致 ({len(data)} 字节)", path)
        for alg, fn in (("sha256", sha256_hex), ("sm3", sm3_hex)):
            code = f"file_{alg}"
            label = "SHA-256" if alg == "sha256" else "SM3"
            expected = str(entry.get(alg) or "").lower()
            if not expected:
                checks.add(code, "fail", f"清单未记录 {label} 摘要", path)
            elif fn(data) != expected:
                checks.add(code, "fail", f"{label} 摘要不符：文件内容已被改动", path)
            else:
                checks.add(code, "pass", f"{label} 摘要一致", path)
    for name in members:
        if name not in listed and name not in (MANIFEST, SIGNATURE):
            checks.add("extra_file", "fail", f"包内有清单未列出的多余文件: {name}", name)
    if not any(c.code == "extra_file" for c in checks.items):
        checks.add("extra_file", "pass", "没有清单以外的文件")
    return listed


# --- the invoices -------------------------------------------------------------------------

def _check_invoice(members: dict[str, bytes], listed: dict[str, dict], entry: dict, checks: _Checks,
                   trust_store: Any) -> None:
    n = entry.get("index")
    original = entry.get("original")
    label = f"发票 {n}"
    data = members.get(original) if isinstance(original, str) else None
    if data is None or original not in listed:
        checks.add("invoice_readable", "fail", f"{label}: 原件 {original} 不在包内或不在清单中", _s(original))
        return
    recorded = _json_member(members, entry.get("verification"))
    _check_signature_verdict(label, original, data, recorded, checks, trust_store)

    from invoice_archive.formats import read_invoice

    doc = None
    try:
        doc = read_invoice(data, filename=entry.get("original_filename") or original)
    except Exception as exc:
        code = getattr(exc, "code", type(exc).__name__)
        has_record = isinstance(entry.get("invoice"), str)
        checks.add("invoice_readable", "fail" if has_record else "warning",
                   f"{label}: 原件无法读取为发票 ({code})", original)
    if doc is None:
        return
    checks.add("invoice_readable", "pass", f"{label}: 原件可读，{doc.business_key}", original)
    record = _json_member(members, entry.get("invoice"))
    if record is not None:
        now = doc.to_dict()
        diffs = [f"{k}: 记录 {record.get(k)!r}，原件 {now.get(k)!r}"
                 for k in ("business_key", "number", "code", "issue_date", "total", "amount_excl_tax", "tax")
                 if record.get(k) != now.get(k)]
        if diffs:
            checks.add("invoice_data_matches", "fail", f"{label}: 原件与记录的发票数据不符（" + "；".join(diffs) + "）",
                       original)
        else:
            checks.add("invoice_data_matches", "pass", f"{label}: 原件与记录的发票数据一致", original)
    elif entry.get("business_key") and entry.get("business_key") != doc.business_key:
        checks.add("invoice_data_matches", "fail",
                   f"{label}: 清单记录的发票 {entry.get('business_key')} 与原件 {doc.business_key} 不符", original)

    rendition = entry.get("rendition")
    pdf = members.get(rendition) if isinstance(rendition, str) else None
    if pdf is None:
        checks.add("rendition_matches", "fail", f"{label}: 缺少转换件 (PDF)", _s(rendition))
        return
    try:
        from invoice_archive.render import pdf_text

        text = pdf_text(pdf)
    except Exception as exc:
        checks.add("rendition_matches", "fail", f"{label}: 转换件 PDF 无法打开: {type(exc).__name__}", rendition)
        return
    missing = rendition_mismatches(doc, text)
    if missing:
        checks.add("rendition_matches", "fail", f"{label}: 转换件与发票数据不符，缺少 " + "、".join(missing), rendition)
    else:
        checks.add("rendition_matches", "pass", f"{label}: 转换件含发票号码、日期和价税合计", rendition)


def _json_member(members: dict[str, bytes], path: Any) -> dict | None:
    if not isinstance(path, str) or path not in members:
        return None
    try:
        value = json.loads(members[path].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _check_signature_verdict(label: str, original: str, data: bytes, recorded: dict | None,
                             checks: _Checks, trust_store: Any) -> None:
    from invoice_archive.verification import verify_ofd, verify_pdf, verify_xml

    try:
        if data[:4] == b"PK\x03\x04":
            from invoice_archive.formats import open_ofd

            pkg = open_ofd(data)
            report = verify_ofd({name: pkg[name] for name in pkg}, trust_store=trust_store)
        elif data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
            report = verify_xml(data, trust_store=trust_store)
        elif b"%PDF-" in data[:1024]:
            report = verify_pdf(data, trust_store=trust_store)
        else:
            checks.add("invoice_signature", "not_checked", f"{label}: 该格式的签名不支持离线验证", original)
            return
    except Exception as exc:
        checks.add("invoice_signature", "fail", f"{label}: 重新验证签名时出错: {getattr(exc, 'code', type(exc).__name__)}",
                   original)
        return
    now = report.verdict
    was = recorded.get("verdict") if recorded else None
    now_label = VERDICT_LABELS.get(now, now)
    if was is None:
        checks.add("invoice_signature", "fail", f"{label}: 包内没有记录的验证结论，重新验证为「{now_label}」", original)
    elif was != now:
        checks.add("invoice_signature", "fail",
                   f"{label}: 重新验证为「{now_label}」，与记录的「{VERDICT_LABELS.get(was, was)}」不一致", original)
    elif now in ("tampered", "invalid"):
        checks.add("invoice_signature", "warning", f"{label}: 签名「{now_label}」（与入库时记录一致）", original)
    else:
        checks.add("invoice_signature", "pass", f"{label}: 重新验证为「{now_label}」，与记录一致", original)


_NUM_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def rendition_mismatches(doc: Any, text: str) -> list[str]:
    """What of the invoice's number, date and total the rendition text lacks."""
    flat = re.sub(r"\s+", "", text)
    missing = []
    if doc.number and doc.number not in flat:
        missing.append(f"发票号码 {doc.number}")
    d = doc.issue_date
    if d is not None:
        forms = {d.isoformat(), f"{d.year}年{d.month:02d}月{d.day:02d}日", f"{d.year}年{d.month}月{d.day}日",
                 d.strftime("%Y%m%d"), d.strftime("%Y/%m/%d"), d.strftime("%Y.%m.%d")}
        if not any(f in flat for f in forms):
            missing.append(f"开票日期 {d.isoformat()}")
    if doc.total is not None:
        values = set()
        for tok in _NUM_RE.findall(flat.replace("¥", " ").replace("￥", " ")):
            try:
                values.add(Decimal(tok.replace(",", "")))
            except InvalidOperation:
                pass
        if doc.total not in values and abs(doc.total) not in values:
            missing.append(f"价税合计 {doc.total}")
    return missing
