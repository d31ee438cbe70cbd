"""DA/T 70-2018 four-property checks (四性检测) of one archive package (pure).

Input: the package as stored (a BagIt bag in a zip, as built by
:func:`invoice_archive.archive.package.build_bag`) and what the archive
expects of it, as a plain dict (every key optional; a check whose facts are
missing is reported ``not_performed`` with the reason, never passed):

=========================  =====================================================
``archival_code``          档号 the item was registered under (str)
``file_count``             payload files declared (int)
``byte_count``             payload bytes declared (int)
``item_count``             items (件) in the package (int, default 1)
``files``                  the registered manifest: ``[{path, size, sha256, sm3}]``
                           (``ArchiveItem.manifest``), paths as ``data/...``
``package_sha256``         digest of the whole package when it was made (hex)
``package_sm3``            the same in SM3 (hex)
``known_codes``            档号 already registered for *other* items (iterable)
``document_number``        this item's document number, e.g. ``记-0001``
``known_document_numbers`` document numbers already archived in the same scope
``sequence``               item numbers (件号) registered in this class/volume,
                           this item included (iterable of int)
``metadata_path``          the metadata file inside the bag (``data/...``)
``required_fields``        override of :data:`REQUIRED_FIELDS`
=========================  =====================================================

Each GD item is its own function returning a :class:`CheckResult`, so a
result names exactly what was checked; :func:`check_package` runs them all and
returns a :class:`FourPropertyReport`. Virus scanning (GD-4-1/4-2) goes through
a scanner object (see :mod:`invoice_archive.archive.virus`); without one those
two items are ``not_performed``.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from invoice_archive.digests import sha256_hex, sm3_hex
from invoice_archive.formats import InvoiceFormatError, open_ofd, xmlsafe

PASS, FAIL, NOT_PERFORMED = "pass", "fail", "not_performed"
AUTHENTICITY, INTEGRITY, USABILITY, SECURITY = "真实性", "完整性", "可用性", "安全性"

REQUIRED_MANIFESTS = ("sha256", "sm3")
METADATA_ROOT = "电子会计档案元数据"
# DA/T 94 Appendix A elements metadata.item_metadata_xml writes (2-3: present)
REQUIRED_ELEMENTS = (
    "聚合层次", "来源", "来源/获取方式", "来源/源系统", "全宗名称", "立档单位名称", "档号", "题名", "责任者",
    "日期", "会计年度", "会计月份", "本位币", "编制人", "审核人", "记账人", "保管期限截止", "计算机文件",
    "电子签名", "业务实体", "关系实体",
)
CODE_ATTRIBUTES = ("全宗号", "年度", "保管期限", "类别号", "案卷号", "件号")
# 2-4: elements that must carry a value (保管期限截止 too unless 保管期限 is Y = 永久)
REQUIRED_FIELDS = (
    "聚合层次", "来源/获取方式", "来源/源系统", "全宗名称", "立档单位名称", "档号", "题名", "责任者", "日期",
    "会计年度", "会计月份", "本位币", "编制人",
)
FILE_ATTRIBUTES = ("计算机文件名", "计算机文件大小", "格式信息", "SHA256", "SM3")

# DA/T 94 §8.7: [全宗号-]类别号-案卷号-件号; class code parts upper-case letters/digits joined by "·"
CODE_RE = re.compile(r"^(?:(?P<fonds>[A-Z0-9]+)-)?(?P<cls>[A-Z0-9]+(?:·[A-Z0-9]+)*)-(?P<volume>\d{4})-(?P<item>\d{4})$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DIGEST_LEN = {"sha256": 64, "sm3": 64, "sha512": 128, "sha1": 40, "md5": 32}
_OPEN_MEDIA = {"ofd": "application/ofd", "pdf": "application/pdf", "xml": "application/xml",
               "json": "application/json"}
_MAX_LISTED = 5


# -- results -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckResult:
    code: str          # "GD-1-1"
    property: str      # 真实性 / 完整性 / 可用性 / 安全性
    name: str          # the item's name in DA/T 70
    result: str        # pass / fail / not_performed
    detail: str        # Chinese, for the archivist

    @property
    def passed(self) -> bool:
        return self.result == PASS

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "property": self.property, "name": self.name, "result": self.result,
                "detail": self.detail}


@dataclass(frozen=True)
class FourPropertyReport:
    archival_code: str | None
    package_sha256: str
    checks: tuple[CheckResult, ...]

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.result == FAIL)

    @property
    def not_performed(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.result == NOT_PERFORMED)

    @property
    def passed(self) -> bool:
        """No check failed (some may not have been performed: see :attr:`complete`)."""
        return not self.failures

    @property
    def complete(self) -> bool:
        """Every check was performed and passed (GB/T 18894: 100% pass rate)."""
        return all(c.result == PASS for c in self.checks)

    def result(self, code: str) -> CheckResult:
        for c in self.checks:
            if c.code == code:
                return c
        raise KeyError(code)

    def to_dict(self) -> dict[str, Any]:
        by_property: dict[str, dict[str, int]] = {}
        for c in self.checks:
            counts = by_property.setdefault(c.property, {PASS: 0, FAIL: 0, NOT_PERFORMED: 0})
            counts[c.result] += 1
        return {
            "archival_code": self.archival_code, "package_sha256": self.package_sha256,
            "passed": self.passed, "complete": self.complete, "summary": by_property,
            "failures": [c.code for c in self.failures],
            "not_performed": [c.code for c in self.not_performed],
            "checks": [c.to_dict() for c in self.checks],
        }


class VirusScanner(Protocol):
    def scan(self, files: Mapping[str, bytes]) -> Any:
        """A ScanResult (status clean/infected/not_performed/error, engine, infected, reason)."""


# -- reading the package once ----------------------------------------------------------
class _Limits:
    max_members = 10_000
    max_unpacked = 4 * 1024**3


def _decode_path(path: str) -> str:
    return path.replace("%0D", "\r").replace("%0d", "\r").replace("%0A", "\n").replace("%0a", "\n") \
        .replace("%25", "%")


def _parse_manifest(text: str, algorithm: str) -> tuple[dict[str, str], list[str]]:
    """RFC 8493 §2.1.3 manifest -> (path -> digest, problems)."""
    entries: dict[str, str] = {}
    problems = []
    want = _DIGEST_LEN.get(algorithm)
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            problems.append(f"第 {n} 行为空行")
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            problems.append(f"第 {n} 行不是“校验值 路径”格式")
            continue
        digest, path = parts[0], _decode_path(parts[1].strip())
        if not re.fullmatch(r"[0-9a-fA-F]+", digest) or (want and len(digest) != want):
            problems.append(f"第 {n} 行校验值格式错误")
            continue
        if path in entries:
            problems.append(f"第 {n} 行路径重复：{path}")
        entries[path] = digest.lower()
    return entries, problems


def _parse_tag_file(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """bagit.txt / bag-info.txt: 'Label: value' lines, continuation lines indented."""
    items: list[tuple[str, str]] = []
    problems = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line[:1] in (" ", "\t") and items:
            label, value = items[-1]
            items[-1] = (label, value + " " + line.strip())
            continue
        label, sep, value = line.partition(":")
        if not sep or not label.strip() or label != label.strip():
            problems.append(f"第 {n} 行不是“标签: 值”格式")
            continue
        items.append((label, value.strip()))
    return items, problems


@dataclass
class _Package:
    raw: bytes
    expected: Mapping[str, Any]
    error: str | None = None
    top: str | None = None
    infos: dict[str, zipfile.ZipInfo] = field(default_factory=dict)     # rel name -> info
    members: dict[str, bytes] = field(default_factory=dict)             # rel name -> bytes
    unreadable: dict[str, str] = field(default_factory=dict)            # rel name -> reason
    structure: list[str] = field(default_factory=list)                  # problems found while opening
    manifests: dict[str, dict[str, str]] = field(default_factory=dict)
    tagmanifests: dict[str, dict[str, str]] = field(default_factory=dict)
    tag_problems: dict[str, list[str]] = field(default_factory=dict)
    bag_info: dict[str, str] = field(default_factory=dict)
    metadata_path: str | None = None
    metadata: Any = None                 # parsed root element
    metadata_error: str | None = None

    @property
    def payload(self) -> dict[str, bytes]:
        return {k: v for k, v in self.members.items() if k.startswith("data/")}

    @property
    def payload_names(self) -> list[str]:
        return sorted(k for k in self.infos if k.startswith("data/"))


def _open(raw: bytes, expected: Mapping[str, Any]) -> _Package:
    pkg = _Package(raw, expected)
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        pkg.error = f"归档包不是有效的 ZIP 文件（{exc}）"
        return pkg
    if len(infos) > _Limits.max_members:
        pkg.error = f"归档包成员过多（{len(infos)} 个）"
        return pkg
    if sum(i.file_size for i in infos) > _Limits.max_unpacked:
        pkg.error = "归档包解压后体积超出上限"
        return pkg
    tops = set()
    for info in infos:
        name = info.filename
        parts = name.split("/")
        if name.startswith("/") or "\\" in name or ".." in parts or (parts[0].endswith(":")):
            pkg.structure.append(f"成员路径不安全：{name}")
            continue
        tops.add(parts[0])
        if info.is_dir():
            continue
        if len(parts) < 2:
            pkg.structure.append(f"文件不在包的顶层文件夹内：{name}")
            continue
        rel = "/".join(parts[1:])
        if rel in pkg.infos:
            pkg.structure.append(f"成员重名：{name}")
            continue
        pkg.infos[rel] = info
        try:
            pkg.members[rel] = zf.read(info)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, ValueError, OSError, EOFError) as exc:
            pkg.unreadable[rel] = str(exc)[:200]
    if len(tops) != 1:
        pkg.structure.append(f"包的顶层应为且仅为一个文件夹，实际为：{', '.join(sorted(tops)) or '无'}")
    pkg.top = min(tops) if tops else None

    for rel, data in pkg.members.items():
        if "/" in rel:
            continue
        kind = re.fullmatch(r"(tag)?manifest-([a-z0-9]+)\.txt", rel)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pkg.tag_problems[rel] = ["不是 UTF-8 编码"]
            continue
        if kind:
            entries, problems = _parse_manifest(text, kind.group(2))
            (pkg.tagmanifests if kind.group(1) else pkg.manifests)[kind.group(2)] = entries
            pkg.tag_problems[rel] = problems
        elif rel in ("bagit.txt", "bag-info.txt"):
            items, problems = _parse_tag_file(text)
            pkg.tag_problems[rel] = problems
            if rel == "bag-info.txt":
                pkg.bag_info = {k: v for k, v in items}
            else:
                want = [("BagIt-Version", None), ("Tag-File-Character-Encoding", "UTF-8")]
                if [k for k, _ in items] != [k for k, _ in want]:
                    problems.append("应只含 BagIt-Version 与 Tag-File-Character-Encoding 两行")
                else:
                    if not re.fullmatch(r"\d+\.\d+", items[0][1]):
                        problems.append(f"BagIt-Version 格式错误：{items[0][1]}")
                    if items[1][1].upper() != "UTF-8":
                        problems.append(f"标签文件编码应为 UTF-8：{items[1][1]}")

    _find_metadata(pkg)
    return pkg


def _find_metadata(pkg: _Package) -> None:
    path = pkg.expected.get("metadata_path")
    if path is None:
        candidates = [n for n in pkg.payload_names if n.endswith("-metadata.xml")]
        if len(candidates) > 1:
            pkg.metadata_error = f"包内有多个元数据文件：{', '.join(candidates)}"
            return
        path = candidates[0] if candidates else None
    if path is None or path not in pkg.infos:
        pkg.metadata_error = "包内没有元数据文件（*-metadata.xml）"
        return
    pkg.metadata_path = path
    data = pkg.members.get(path)
    if data is None:
        pkg.metadata_error = f"元数据文件无法读取：{pkg.unreadable.get(path, '')}"
        return
    try:
        root = xmlsafe.parse(data, path)
    except InvoiceFormatError as exc:
        pkg.metadata_error = f"元数据 XML 无法解析：{exc.message}" + (
            "（含 DTD/实体声明，按安全要求拒绝解析）" if exc.code == "xml_dtd_forbidden" else "")
        return
    if xmlsafe.local(root.tag) != METADATA_ROOT:
        pkg.metadata_error = f"元数据根元素应为 {METADATA_ROOT}，实际为 {xmlsafe.local(root.tag)}"
        return
    pkg.metadata = root


# -- helpers -------------------------------------------------------------------------------
def _listed(items: Iterable[str]) -> str:
    items = list(items)
    head = "；".join(items[:_MAX_LISTED])
    return head + (f" 等 {len(items)} 项" if len(items) > _MAX_LISTED else "")


def _el(root: Any, path: str) -> Any:
    el = root
    for name in path.split("/"):
        el = xmlsafe.find(el, name)
        if el is None:
            return None
    return el


def _metadata_files(pkg: _Package) -> list[dict[str, str]]:
    files_el = _el(pkg.metadata, "计算机文件")
    if files_el is None:
        return []
    return [{xmlsafe.local(k): v for k, v in el.attrib.items()} for el in xmlsafe.findall(files_el, "文件")]


def _metadata_code(pkg: _Package) -> str | None:
    el = _el(pkg.metadata, "档号") if pkg.metadata is not None else None
    return (el.text or "").strip() if el is not None else None


def sniff(data: bytes) -> str | None:
    """The open format of a file by its magic bytes: ofd, pdf, xml, json, or None."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = {n.lstrip("/").lower() for n in zf.namelist()}
        except (zipfile.BadZipFile, ValueError, EOFError, OSError):
            return None
        return "ofd" if "ofd.xml" in names else None
    head = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    head = head.lstrip()
    if head.startswith(b"<"):
        return "xml"
    if head[:1] in (b"{", b"["):
        try:
            json.loads(head.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        return "json"
    return None


def _result(code: str, prop: str, name: str, problems: list[str], ok_detail: str) -> CheckResult:
    if problems:
        return CheckResult(code, prop, name, FAIL, _listed(problems))
    return CheckResult(code, prop, name, PASS, ok_detail)


def _unopened(code: str, prop: str, name: str, pkg: _Package) -> CheckResult | None:
    if pkg.error:
        return CheckResult(code, prop, name, NOT_PERFORMED, f"{pkg.error}，无法检测")
    return None


def _digest(algorithm: str, data: bytes) -> str | None:
    if algorithm == "sm3":
        return sm3_hex(data)
    try:
        return hashlib.new(algorithm, data).hexdigest()
    except ValueError:
        return None


# -- 真实性 -------------------------------------------------------------------------------
def gd_1_1_fixity(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-1-1", AUTHENTICITY, "固化信息有效性（清单摘要值）"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    problems = []
    checked = 0
    for kind, manifests in (("manifest", pkg.manifests), ("tagmanifest", pkg.tagmanifests)):
        for alg in REQUIRED_MANIFESTS:
            if alg not in manifests:
                problems.append(f"缺少 {kind}-{alg}.txt")
        for alg, entries in sorted(manifests.items()):
            for path, digest in entries.items():
                if path not in pkg.infos:
                    problems.append(f"{kind}-{alg}.txt 列出的文件不存在：{path}")
                    continue
                data = pkg.members.get(path)
                if data is None:
                    problems.append(f"{path} 无法读取（{pkg.unreadable.get(path)}）")
                    continue
                actual = _digest(alg, data)
                if actual is None:
                    continue  # an algorithm this system lacks: neither proof nor disproof
                checked += 1
                if actual != digest:
                    problems.append(f"{path} 的 {alg.upper()} 值与 {kind}-{alg}.txt 不符")
    return _result(code, prop, name, problems,
                   f"SHA-256 与 SM3 清单及标签清单共 {checked} 项摘要值全部一致")


def gd_1_7_code_format(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-1-7", AUTHENTICITY, "档号规范性"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    expected = pkg.expected.get("archival_code")
    problems = []
    meta_code = _metadata_code(pkg)
    if meta_code is None:
        problems.append("元数据中没有档号" + (f"（{pkg.metadata_error}）" if pkg.metadata_error else ""))
    else:
        match = CODE_RE.match(meta_code)
        if not match:
            problems.append(f"档号 {meta_code} 不符合“[全宗号-]类别号-案卷号(4位)-件号(4位)”格式")
        else:
            el = _el(pkg.metadata, "档号")
            attrs = {xmlsafe.local(k): v for k, v in el.attrib.items()}
            parts = {"全宗号": match.group("fonds") or "", "类别号": match.group("cls"),
                     "案卷号": match.group("volume"), "件号": match.group("item")}
            for attr, value in parts.items():
                if attr in attrs and attrs[attr] != value:
                    problems.append(f"档号属性 {attr}={attrs[attr]} 与档号中的 {value} 不符")
        if expected and meta_code != expected:
            problems.append(f"元数据档号 {meta_code} 与登记档号 {expected} 不符")
    if expected and pkg.top != expected:
        problems.append(f"包文件夹名 {pkg.top} 与档号 {expected} 不符")
    ext_id = pkg.bag_info.get("External-Identifier")
    if ext_id is not None and meta_code is not None and ext_id != meta_code:
        problems.append(f"bag-info.txt 的 External-Identifier {ext_id} 与档号 {meta_code} 不符")
    return _result(code, prop, name, problems, f"档号 {meta_code} 格式规范，与包名及登记信息一致")


def _document_number(pkg: _Package) -> str | None:
    if pkg.expected.get("document_number"):
        return str(pkg.expected["document_number"])
    for rel, data in pkg.payload.items():
        if rel.endswith(".xml") and "记账凭证" in rel:
            try:
                root = xmlsafe.parse(data, rel)
            except InvoiceFormatError:
                return None
            word, number = xmlsafe.findtext(root, "VOUCHER_TYPE"), xmlsafe.findtext(root, "VOUCHER_NO")
            if word and number:
                return f"{word}-{number}"
    return None


def gd_1_8_duplicates(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-1-8", AUTHENTICITY, "档号与文号重复性"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    known_codes = pkg.expected.get("known_codes")
    known_numbers = pkg.expected.get("known_document_numbers")
    if known_codes is None and known_numbers is None:
        return CheckResult(code, prop, name, NOT_PERFORMED, "未提供已登记的档号与文号清单，无法查重")
    problems, done = [], []
    if known_codes is not None:
        archival_code = _metadata_code(pkg) or pkg.expected.get("archival_code")
        if archival_code is None:
            problems.append("无法确定本件档号")
        elif archival_code in set(known_codes):
            problems.append(f"档号 {archival_code} 已被其他档案使用")
        else:
            done.append(f"档号 {archival_code} 未重复")
    if known_numbers is not None:
        number = _document_number(pkg)
        if number is None:
            problems.append("无法确定本件的凭证号")
        elif number in set(known_numbers):
            problems.append(f"凭证号 {number} 已归档，重复归档")
        else:
            done.append(f"凭证号 {number} 未重复")
    return _result(code, prop, name, problems, "；".join(done))


def gd_1_9_file_names(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-1-9", AUTHENTICITY, "计算机文件名与元数据一致性"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    problems = []
    actual = set(pkg.payload_names)
    if pkg.metadata is None:
        problems.append(f"无法与元数据核对：{pkg.metadata_error}")
    else:
        described = {f.get("计算机文件名", "") for f in _metadata_files(pkg)}
        others = actual - {pkg.metadata_path}
        for missing in sorted(described - others):
            problems.append(f"元数据登记的文件不在包内：{missing}")
        for extra in sorted(others - described):
            problems.append(f"包内文件未在元数据中登记：{extra}")
        archival_code = _metadata_code(pkg)
        if archival_code:
            for n in sorted(actual):
                if not n.split("/")[-1].startswith(archival_code):
                    problems.append(f"文件名未以档号命名：{n}")
    files = pkg.expected.get("files")
    if files is not None:
        registered = {f["path"] for f in files}
        for missing in sorted(registered - actual):
            problems.append(f"登记的文件不在包内：{missing}")
        for extra in sorted(actual - registered):
            problems.append(f"包内文件未登记：{extra}")
    return _result(code, prop, name, problems, f"{len(actual)} 个文件的文件名与元数据、登记信息一致")


def gd_1_10_file_sizes(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-1-10", AUTHENTICITY, "计算机文件大小与格式和元数据一致性"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    problems = []
    sizes = {rel: info.file_size for rel, info in pkg.infos.items() if rel.startswith("data/")}
    if pkg.metadata is None:
        problems.append(f"无法与元数据核对：{pkg.metadata_error}")
    else:
        for f in _metadata_files(pkg):
            path = f.get("计算机文件名", "")
            if path not in sizes:
                continue  # reported by GD-1-9
            if f.get("计算机文件大小") != str(sizes[path]):
                problems.append(f"{path} 大小 {sizes[path]} 字节，元数据登记为 {f.get('计算机文件大小')}")
            data = pkg.members.get(path)
            kind = sniff(data) if data is not None else None
            declared = f.get("格式信息")
            if kind and declared and _OPEN_MEDIA[kind] != declared:
                problems.append(f"{path} 实际格式为 {kind.upper()}，元数据登记为 {declared}")
    for f in pkg.expected.get("files") or ():
        path = f["path"]
        if path in sizes and "size" in f and int(f["size"]) != sizes[path]:
            problems.append(f"{path} 大小 {sizes[path]} 字节，登记为 {f['size']}")
    return _result(code, prop, name, problems, f"{len(sizes)} 个文件的大小与格式和元数据一致")


def gd_1_12_tag_files(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-1-12", AUTHENTICITY, "说明文件和目录文件规范性"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    problems = []
    for rel in ("bagit.txt", "bag-info.txt"):
        if rel not in pkg.infos:
            problems.append(f"缺少 {rel}")
    for rel, found in sorted(pkg.tag_problems.items()):
        problems.extend(f"{rel}：{p}" for p in found)
    oxum = pkg.bag_info.get("Payload-Oxum")
    if "bag-info.txt" in pkg.members:
        if oxum is None or not re.fullmatch(r"\d+\.\d+", oxum):
            problems.append(f"bag-info.txt 的 Payload-Oxum 缺失或格式错误：{oxum}")
        date = pkg.bag_info.get("Bagging-Date")
        try:
            dt.date.fromisoformat(date or "")
        except ValueError:
            problems.append(f"bag-info.txt 的 Bagging-Date 缺失或不是 YYYY-MM-DD：{date}")
    tag_files = {rel for rel in pkg.infos if "/" not in rel and not rel.startswith("tagmanifest-")}
    for alg, entries in sorted(pkg.tagmanifests.items()):
        for missing in sorted(tag_files - set(entries)):
            problems.append(f"tagmanifest-{alg}.txt 未列出 {missing}")
    return _result(code, prop, name, problems, "bagit.txt、bag-info.txt 与各清单文件格式规范")


def gd_1_13_structure(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-1-13", AUTHENTICITY, "归档信息包目录结构规范性"
    if pkg.error:
        return CheckResult(code, prop, name, FAIL, pkg.error)
    problems = list(pkg.structure)
    expected = pkg.expected.get("archival_code")
    if expected and pkg.top and pkg.top != expected:
        problems.append(f"顶层文件夹 {pkg.top} 应以档号 {expected} 命名")
    required = ["bagit.txt", "bag-info.txt"] + [f"{k}-{a}.txt" for k in ("manifest", "tagmanifest")
                                                for a in REQUIRED_MANIFESTS]
    for rel in required:
        if rel not in pkg.infos:
            problems.append(f"缺少 {rel}")
    if not pkg.payload_names:
        problems.append("data/ 文件夹内没有文件")
    if "fetch.txt" in pkg.infos:
        problems.append("包含 fetch.txt：归档包须自包含，不得引用外部文件")
    for rel in sorted(pkg.infos):
        if "/" in rel and not rel.startswith("data/"):
            problems.append(f"文件不在 data/ 或包根目录：{rel}")
    return _result(code, prop, name, problems, f"包 {pkg.top}/ 的目录结构符合 BagIt（RFC 8493）")


def gd_1_14_package_digest(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-1-14", AUTHENTICITY, "归档前后数据一致性（包摘要值）"
    want_sha = pkg.expected.get("package_sha256")
    want_sm3 = pkg.expected.get("package_sm3")
    if not want_sha and not want_sm3:
        return CheckResult(code, prop, name, NOT_PERFORMED, "未提供归档时记录的包摘要值")
    problems = []
    if want_sha and sha256_hex(pkg.raw) != want_sha.lower():
        problems.append("归档包 SHA-256 值与归档时记录的不符")
    if want_sm3 and sm3_hex(pkg.raw) != want_sm3.lower():
        problems.append("归档包 SM3 值与归档时记录的不符")
    return _result(code, prop, name, problems, "归档包摘要值与归档时记录的一致")


# -- 完整性 ---------------------------------------------------------------------------------
def gd_2_1_item_count(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-2-1", INTEGRITY, "总件数相符性"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    want = int(pkg.expected.get("item_count", 1))
    problems = []
    items = [n for n in pkg.payload_names if n.endswith("-metadata.xml")]
    if len(items) != want:
        problems.append(f"包内有 {len(items)} 件（元数据文件），应为 {want} 件")
    if pkg.metadata is not None:
        level = (xmlsafe.findtext(pkg.metadata, "聚合层次") or "").strip()
        if level != "件":
            problems.append(f"聚合层次为“{level}”，应为“件”")
        roles = [f.get("角色") for f in _metadata_files(pkg)]
        vouchers = roles.count("voucher")
        if vouchers != want:
            problems.append(f"登记的记账凭证 {vouchers} 张，应为每件 1 张")
        elif roles and roles[0] != "voucher":
            problems.append("记账凭证应排在件内第一位（DA/T 94 §8.4）")
    elif pkg.metadata_error:
        problems.append(pkg.metadata_error)
    return _result(code, prop, name, problems, f"共 {want} 件，每件含 1 张记账凭证")


def gd_2_2_byte_count(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-2-2", INTEGRITY, "总字节数相符性（Payload-Oxum）"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    actual = sum(info.file_size for rel, info in pkg.infos.items() if rel.startswith("data/"))
    problems = []
    oxum = pkg.bag_info.get("Payload-Oxum", "")
    m = re.fullmatch(r"(\d+)\.(\d+)", oxum)
    if not m:
        problems.append(f"Payload-Oxum 缺失或格式错误：{oxum or '无'}")
    elif int(m.group(1)) != actual:
        problems.append(f"载荷实际 {actual} 字节，Payload-Oxum 声明 {m.group(1)} 字节")
    want = pkg.expected.get("byte_count")
    if want is not None and int(want) != actual:
        problems.append(f"载荷实际 {actual} 字节，登记为 {want} 字节")
    return _result(code, prop, name, problems, f"载荷共 {actual} 字节，与声明一致")


def gd_2_3_metadata_elements(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-2-3", INTEGRITY, "元数据项完整性"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    if pkg.metadata is None:
        return CheckResult(code, prop, name, FAIL, pkg.metadata_error or "没有元数据")
    problems = [f"缺少元数据项 {p}" for p in REQUIRED_ELEMENTS if _el(pkg.metadata, p) is None]
    code_el = _el(pkg.metadata, "档号")
    if code_el is not None:
        attrs = {xmlsafe.local(k) for k in code_el.attrib}
        problems += [f"档号缺少属性 {a}" for a in CODE_ATTRIBUTES if a not in attrs]
    for f in _metadata_files(pkg):
        missing = [a for a in FILE_ATTRIBUTES if a not in f]
        if missing:
            problems.append(f"计算机文件 {f.get('计算机文件名', '?')} 缺少 {', '.join(missing)}")
    return _result(code, prop, name, problems, f"DA/T 94 附录 A 的 {len(REQUIRED_ELEMENTS)} 个元数据项齐全")


def gd_2_4_required_fields(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-2-4", INTEGRITY, "元数据必填著录项"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    if pkg.metadata is None:
        return CheckResult(code, prop, name, FAIL, pkg.metadata_error or "没有元数据")
    required = list(pkg.expected.get("required_fields") or REQUIRED_FIELDS)
    code_el = _el(pkg.metadata, "档号")
    attrs = {xmlsafe.local(k): v for k, v in code_el.attrib.items()} if code_el is not None else {}
    if attrs.get("保管期限") != "Y":
        required.append("保管期限截止")
    problems = []
    for path in required:
        el = _el(pkg.metadata, path)
        if el is not None and not (el.text or "").strip():
            problems.append(f"必填项 {path} 为空")
        elif el is None:
            problems.append(f"必填项 {path} 缺失")
    problems += [f"档号属性 {a} 为空" for a in CODE_ATTRIBUTES if a in attrs and not attrs[a].strip()]
    for f in _metadata_files(pkg):
        empty = [a for a in FILE_ATTRIBUTES if a in f and not f[a].strip()]
        if empty:
            problems.append(f"计算机文件 {f.get('计算机文件名', '?')} 的 {', '.join(empty)} 为空")
    return _result(code, prop, name, problems, f"{len(required)} 个必填著录项均已填写")


def gd_2_6_numbering(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-2-6", INTEGRITY, "件号连续性"
    sequence = pkg.expected.get("sequence")
    if sequence is None:
        return CheckResult(code, prop, name, NOT_PERFORMED, "未提供本类目/案卷已登记的件号序列")
    numbers = [int(n) for n in sequence]
    problems = []
    seen = set(numbers)
    dups = sorted(n for n, count in Counter(numbers).items() if count > 1)
    if dups:
        problems.append(f"件号重复：{', '.join(f'{n:04d}' for n in dups)}")
    if numbers:
        if min(seen) != 1:
            problems.append(f"件号应从 0001 开始，实际从 {min(seen):04d} 开始")
        gaps = sorted(set(range(1, max(seen) + 1)) - seen)
        if gaps:
            problems.append(f"件号不连续，缺少：{', '.join(f'{n:04d}' for n in gaps[:20])}")
    else:
        problems.append("件号序列为空")
    item = None
    if pkg.metadata is not None:
        el = _el(pkg.metadata, "档号")
        item = next((v for k, v in el.attrib.items() if xmlsafe.local(k) == "件号"), None) if el is not None else None
    if item is not None and item.isdigit() and int(item) not in seen:
        problems.append(f"本件件号 {item} 不在已登记的序列中")
    return _result(code, prop, name, problems, f"件号 0001–{max(seen) if seen else 0:04d} 连续无缺号")


def gd_2_7_content_digests(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-2-7", INTEGRITY, "内容数据和附件的固化信息"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    problems = []
    checked = 0
    actual: dict[str, tuple[str, str]] = {}

    def digests(path: str) -> tuple[str, str] | None:
        if path not in actual:
            data = pkg.members.get(path)
            if data is None:
                return None
            actual[path] = (sha256_hex(data), sm3_hex(data))
        return actual[path]

    sources: list[tuple[str, Iterable[Mapping[str, Any]], str, str, str]] = []
    if pkg.metadata is None:
        problems.append(f"无法与元数据核对：{pkg.metadata_error}")
    else:
        sources.append(("元数据", _metadata_files(pkg), "计算机文件名", "SHA256", "SM3"))
    if pkg.expected.get("files") is not None:
        sources.append(("登记信息", pkg.expected["files"], "path", "sha256", "sm3"))
    for label, files, path_key, sha_key, sm3_key in sources:
        for f in files:
            path = f.get(path_key, "")
            got = digests(path)
            if got is None:
                if path in pkg.infos:
                    problems.append(f"{path} 无法读取")
                continue  # absent files are GD-1-9's finding
            for alg, key, value in (("SHA-256", sha_key, got[0]), ("SM3", sm3_key, got[1])):
                want = f.get(key)
                if want:
                    checked += 1
                    if str(want).lower() != value:
                        problems.append(f"{path} 的 {alg} 值与{label}记录的不符")
    if not sources:
        return CheckResult(code, prop, name, FAIL, _listed(problems))
    return _result(code, prop, name, problems, f"{checked} 项内容摘要值与元数据和登记信息一致")


def gd_2_11_file_count(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-2-11", INTEGRITY, "文件数量相符性"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    actual = len(pkg.payload_names)
    problems = []
    want = pkg.expected.get("file_count")
    if want is not None and int(want) != actual:
        problems.append(f"包内 {actual} 个文件，登记为 {want} 个")
    m = re.fullmatch(r"(\d+)\.(\d+)", pkg.bag_info.get("Payload-Oxum", ""))
    if m and int(m.group(2)) != actual:
        problems.append(f"包内 {actual} 个文件，Payload-Oxum 声明 {m.group(2)} 个")
    for alg in REQUIRED_MANIFESTS:
        listed = pkg.manifests.get(alg)
        if listed is not None and len(listed) != actual:
            problems.append(f"包内 {actual} 个文件，manifest-{alg}.txt 列出 {len(listed)} 个")
    if pkg.metadata is not None:
        described = len(_metadata_files(pkg)) + 1  # the metadata file describes the others
        if described != actual:
            problems.append(f"包内 {actual} 个文件，元数据登记 {described - 1} 个（另加元数据文件本身）")
    return _result(code, prop, name, problems, f"共 {actual} 个文件，与声明一致")


# -- 可用性 ---------------------------------------------------------------------------------
def gd_3_1_metadata_parses(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-3-1", USABILITY, "元数据可读性（XML 可解析）"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    if pkg.metadata is None:
        return CheckResult(code, prop, name, FAIL, pkg.metadata_error or "没有元数据")
    return CheckResult(code, prop, name, PASS, f"{pkg.metadata_path} 为格式良好的 XML（未含 DTD/实体声明）")


def gd_3_3_open_formats(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-3-3", USABILITY, "文件格式开放性"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    problems = []
    kinds: dict[str, int] = {}
    for rel in pkg.payload_names:
        data = pkg.members.get(rel)
        kind = sniff(data) if data is not None else None
        if kind is None:
            problems.append(f"{rel} 不是 OFD/PDF/XML/JSON 开放格式（按文件内容识别）")
        else:
            kinds[kind] = kinds.get(kind, 0) + 1
    summary = "、".join(f"{k.upper()} {v} 个" for k, v in sorted(kinds.items()))
    return _result(code, prop, name, problems, f"全部为开放格式：{summary}")


def _pdf_encrypted(data: bytes) -> bool:
    return re.search(rb"/Encrypt\b", data) is not None


def gd_3_4_readable(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-3-4", USABILITY, "内容数据可读性"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    problems = []
    for rel in pkg.payload_names:
        data = pkg.members.get(rel)
        if data is None:
            problems.append(f"{rel} 无法从包中读出（{pkg.unreadable.get(rel)}）")
            continue
        kind = sniff(data)
        try:
            if kind == "ofd":
                ofd = open_ofd(data)
                root_name = ofd.resolve_name("OFD.xml")
                if root_name is None:
                    raise InvoiceFormatError("ofd_invalid", reason="缺少 OFD.xml")
                xmlsafe.parse(ofd[root_name], root_name)
                ofd.check_all()
            elif kind == "xml":
                xmlsafe.parse(data, rel)
            elif kind == "json":
                json.loads(data.decode("utf-8"))
            elif kind == "pdf" and b"%%EOF" not in data[-2048:]:
                problems.append(f"{rel} PDF 不完整（缺少 %%EOF）")
        except InvoiceFormatError as exc:
            problems.append(f"{rel}：{exc.message}")
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{rel} 无法解析：{exc}")
    return _result(code, prop, name, problems, f"{len(pkg.payload_names)} 个文件均可打开并解析")


def _zip_problems(label: str, infos: Iterable[zipfile.ZipInfo]) -> list[str]:
    problems = []
    for info in infos:
        if info.flag_bits & 0x1:
            problems.append(f"{label}{info.filename} 已加密")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            problems.append(f"{label}{info.filename} 使用非公开/非通用压缩算法（方法 {info.compress_type}）")
    return problems


def gd_3_8_no_encryption(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-3-8", USABILITY, "无加密与非公开压缩"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    with zipfile.ZipFile(io.BytesIO(pkg.raw)) as zf:
        problems = _zip_problems("归档包成员 ", zf.infolist())
    for rel in pkg.payload_names:
        data = pkg.members.get(rel)
        if data is None:
            continue
        kind = sniff(data)
        if kind == "ofd":
            with zipfile.ZipFile(io.BytesIO(data)) as inner:
                problems += _zip_problems(f"{rel} 内的 ", inner.infolist())
        elif kind == "pdf" and _pdf_encrypted(data):
            problems.append(f"{rel} PDF 已加密")
    return _result(code, prop, name, problems, "未发现加密或非公开压缩（仅存储/Deflate）")


# -- 安全性 ---------------------------------------------------------------------------------
def gd_4_virus(pkg: _Package, scanner: VirusScanner | None) -> tuple[CheckResult, CheckResult]:
    c1 = ("GD-4-1", SECURITY, "病毒检测环境（杀毒软件可用）")
    c2 = ("GD-4-2", SECURITY, "病毒感染检测")
    if scanner is None:
        reason = "未配置病毒扫描程序"
        return CheckResult(*c1, NOT_PERFORMED, reason), CheckResult(*c2, NOT_PERFORMED, reason)
    if pkg.error:
        files = {"package.zip": pkg.raw}
    else:
        files = {f"{pkg.top}/{rel}": data for rel, data in pkg.members.items()}
    scan = scanner.scan(files)
    engine = getattr(scan, "engine", None) or "未知引擎"
    status = scan.status
    if status == NOT_PERFORMED:
        reason = scan.reason or "病毒扫描程序不可用"
        return CheckResult(*c1, NOT_PERFORMED, reason), CheckResult(*c2, NOT_PERFORMED, reason)
    first = CheckResult(*c1, PASS, f"杀毒软件可用：{engine}")
    if status == "clean":
        return first, CheckResult(*c2, PASS, f"{engine} 扫描 {len(files)} 个文件，未发现病毒")
    if status == "infected":
        found = [f"{path}（{sig}）" for path, sig in scan.infected]
        return first, CheckResult(*c2, FAIL, "发现病毒：" + _listed(found))
    return first, CheckResult(*c2, FAIL, f"病毒扫描出错，未能确认安全：{scan.reason}")


def gd_4_3_no_extra_files(pkg: _Package) -> CheckResult:
    code, prop, name = "GD-4-3", SECURITY, "无多余文件"
    if (r := _unopened(code, prop, name, pkg)):
        return r
    in_manifests: set[str] = set()
    for entries in pkg.manifests.values():
        in_manifests |= set(entries)
    in_tagmanifests: set[str] = set()
    for entries in pkg.tagmanifests.values():
        in_tagmanifests |= set(entries)
    problems = []
    for rel in sorted(pkg.infos):
        if rel.startswith("data/"):
            for alg in REQUIRED_MANIFESTS:
                if rel not in pkg.manifests.get(alg, {}):
                    problems.append(f"{rel} 未列入 manifest-{alg}.txt")
        elif rel.startswith("tagmanifest-"):
            continue
        elif rel not in in_tagmanifests:
            problems.append(f"{rel} 不在任何清单中")
    problems += [s for s in pkg.structure if "路径不安全" in s or "顶层文件夹内" in s]
    return _result(code, prop, name, problems, "包内所有文件均列于清单，无多余文件")


# -- the whole report ----------------------------------------------------------------------
_PACKAGE_CHECKS: tuple[Callable[[_Package], CheckResult], ...] = (
    gd_1_1_fixity, gd_1_7_code_format, gd_1_8_duplicates, gd_1_9_file_names, gd_1_10_file_sizes,
    gd_1_12_tag_files, gd_1_13_structure, gd_1_14_package_digest,
    gd_2_1_item_count, gd_2_2_byte_count, gd_2_3_metadata_elements, gd_2_4_required_fields,
    gd_2_6_numbering, gd_2_7_content_digests, gd_2_11_file_count,
    gd_3_1_metadata_parses, gd_3_3_open_formats, gd_3_4_readable, gd_3_8_no_encryption,
)


def check_package(bag_zip: bytes, expected: Mapping[str, Any] | None = None, *,
                  scanner: VirusScanner | None = None) -> FourPropertyReport:
    """Run every four-property check this module knows on one archive package."""
    pkg = _open(bag_zip, expected or {})
    results = [check(pkg) for check in _PACKAGE_CHECKS]
    results.extend(gd_4_virus(pkg, scanner))
    results.append(gd_4_3_no_extra_files(pkg))
    order = {p: n for n, p in enumerate((AUTHENTICITY, INTEGRITY, USABILITY, SECURITY))}

    def key(r: CheckResult) -> tuple[int, tuple[int, ...]]:
        return order[r.property], tuple(int(x) for x in r.code.split("-")[1:])

    archival_code = _metadata_code(pkg) or (expected or {}).get("archival_code")
    return FourPropertyReport(archival_code, sha256_hex(bag_zip), tuple(sorted(results, key=key)))


@dataclass(frozen=True)
class PackageContents:
    """What a stored package says of itself: its 档号, the files its metadata
    describes (path, role, media type, size, digests) and the payload bytes."""

    archival_code: str | None
    files: list[dict[str, str]]
    payload: dict[str, bytes]
    problem: str | None = None


def package_contents(bag_zip: bytes) -> PackageContents:
    """Read a package's self-description (no checks: run check_package for those)."""
    pkg = _open(bag_zip, {})
    problem = pkg.error or pkg.metadata_error
    if problem:
        return PackageContents(None, [], {}, problem)
    files = [{"path": f.get("计算机文件名", ""), "role": f.get("角色", ""), "media_type": f.get("格式信息", ""),
              "size": f.get("计算机文件大小", ""), "sha256": f.get("SHA256", ""), "sm3": f.get("SM3", "")}
             for f in _metadata_files(pkg)]
    return PackageContents(_metadata_code(pkg), files, pkg.payload)


def expected_from_item(item: Any, **extra: Any) -> dict[str, Any]:
    """The expectation dict from an archive item record (attributes as ArchiveItem
    has them: archival_code, manifest, package_sha256, package_sm3), plus extras
    such as known_codes or sequence."""
    manifest = list(getattr(item, "manifest", None) or [])
    out: dict[str, Any] = {
        "archival_code": item.archival_code,
        "files": manifest,
        "file_count": len(manifest),
        "byte_count": sum(int(f["size"]) for f in manifest),
        "package_sha256": getattr(item, "package_sha256", None),
        "package_sm3": getattr(item, "package_sm3", None),
    }
    out.update(extra)
    return out


__all__ = [
    "AUTHENTICITY", "FAIL", "INTEGRITY", "NOT_PERFORMED", "PASS", "SECURITY", "USABILITY",
    "CheckResult", "FourPropertyReport", "PackageContents", "VirusScanner", "check_package", "expected_from_item",
    "package_contents", "sniff",
]
