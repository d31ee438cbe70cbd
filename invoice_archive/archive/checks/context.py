"""The package as the checks see it: read once, shared by every check item.

The package is a BagIt bag (RFC 8493) in a zip, as built by
:func:`invoice_archive.archive.package.build_bag`: one top folder named after
the 档号, ``bagit.txt``, ``bag-info.txt``, SHA-256 and SM3 manifests and tag
manifests, and under ``data/`` the files of one 件 with its DA/T 94-2022
metadata (``*-metadata.xml``, root element ``电子会计档案元数据``).

What the archive expects of the package is a plain dict (every key optional;
a check whose facts are missing is reported ``not_performed`` with the reason,
never passed):

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
``required_fields``        override of :data:`~.integrity.REQUIRED_FIELDS`
=========================  =====================================================

:func:`expected_from_item` builds that dict from an archive item record;
:func:`package_contents` reads a package's self-description without checking it.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from invoice_archive.digests import sha256_hex, sm3_hex
from invoice_archive.formats import InvoiceFormatError, xmlsafe

REQUIRED_MANIFESTS = ("sha256", "sm3")
METADATA_ROOT = "电子会计档案元数据"

_DIGEST_LEN = {"sha256": 64, "sm3": 64, "sha512": 128, "sha1": 40, "md5": 32}
# the open formats (DA/T 70 可用性) sniff recognises, with the media type the metadata records for each
OPEN_MEDIA = {"ofd": "application/ofd", "pdf": "application/pdf", "xml": "application/xml",
              "json": "application/json"}


class VirusScanner(Protocol):
    def scan(self, files: Mapping[str, bytes]) -> Any:
        """A ScanResult (status clean/infected/not_performed/error, engine, infected, reason)."""


# -- reading the package once ----------------------------------------------------------
class Limits:
    max_members = 10_000
    max_unpacked = 4 * 1024**3


def _decode_path(path: str) -> str:
    return path.replace("%0D", "\r").replace("%0d", "\r").replace("%0A", "\n").replace("%0a", "\n") \
        .replace("%25", "%")


def _parse_manifest(text: str, algorithm: str) -> tuple[dict[str, str], list[str]]:
    """RFC 8493 2.1.3 manifest (docs/standards.md) -> (path -> digest, problems)."""
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
class Package:
    """One package, opened and parsed, with what the archive expects of it."""

    raw: bytes
    expected: Mapping[str, Any]
    scanner: VirusScanner | None = None
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
    virus_scan: Any = None               # (files scanned, the scanner's result), once scanned
    derived: dict[str, Any] = field(default_factory=dict)   # what several checks read, computed once
    #: what depends on nothing but a member's bytes (digests, whether a file parses), keyed
    #: by the bytes themselves: a caller that checks several packages holding the same
    #: files gives them one memo (archiving checks each package twice: docs/metadata.md)
    memo: dict[Any, Any] = field(default_factory=dict)

    @property
    def payload(self) -> dict[str, bytes]:
        return {k: v for k, v in self.members.items() if k.startswith("data/")}

    @property
    def payload_names(self) -> list[str]:
        return sorted(k for k in self.infos if k.startswith("data/"))


def open_package(raw: bytes, expected: Mapping[str, Any], scanner: VirusScanner | None = None,
                 memo: dict[Any, Any] | None = None) -> Package:
    pkg = Package(raw, expected, scanner)
    if memo is not None:
        pkg.memo = memo
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        pkg.error = f"归档包不是有效的 ZIP 文件（{exc}）"
        return pkg
    if len(infos) > Limits.max_members:
        pkg.error = f"归档包成员过多（{len(infos)} 个）"
        return pkg
    if sum(i.file_size for i in infos) > Limits.max_unpacked:
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
        except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, ValueError, OSError, EOFError) as exc:
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


def _find_metadata(pkg: Package) -> None:
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


def by_content(pkg: Package, name: str, data: bytes, fn: Callable[[bytes], Any]) -> Any:
    """``fn(data)``, computed once per bytes within ``pkg``'s memo: only for what depends
    on nothing but the bytes (the memo is keyed by them, so equal bytes share it)."""
    key = (name, data)
    try:
        return pkg.memo[key]
    except KeyError:
        value = pkg.memo[key] = fn(data)
        return value


def _hexdigest(algorithm: str, data: bytes) -> str | None:
    if algorithm == "sm3":
        return sm3_hex(data)
    if algorithm == "sha256":
        return sha256_hex(data)
    try:
        return hashlib.new(algorithm, data).hexdigest()
    except ValueError:
        return None


def member_digest(pkg: Package, algorithm: str, data: bytes) -> str | None:
    """The hex digest of ``data`` in a manifest's ``algorithm`` (sm3, sha256, sha512 ...);
    None for an algorithm this system lacks. Each member is hashed once per algorithm."""
    return by_content(pkg, f"digest:{algorithm}", data, lambda d: _hexdigest(algorithm, d))


# -- reading the parsed metadata -------------------------------------------------------------
def element(root: Any, path: str) -> Any:
    """The element at ``a/b/c`` under ``root`` (namespaces ignored), or None."""
    el = root
    for name in path.split("/"):
        el = xmlsafe.find(el, name)
        if el is None:
            return None
    return el


def metadata_files(pkg: Package) -> list[dict[str, str]]:
    """The 计算机文件/文件 entries of the metadata, as attribute dicts."""
    files_el = element(pkg.metadata, "计算机文件")
    if files_el is None:
        return []
    return [{xmlsafe.local(k): v for k, v in el.attrib.items()} for el in xmlsafe.findall(files_el, "文件")]


def category_of(pkg: Package) -> str | None:
    """The 附表1 category key (会计档案类别@代码) the metadata records, or None."""
    el = element(pkg.metadata, "会计档案类别") if pkg.metadata is not None else None
    if el is None:
        return None
    return next((v for k, v in el.attrib.items() if xmlsafe.local(k) == "代码"), None) or None


def is_voucher_item(pkg: Package) -> bool:
    """Whether the item is a 记账凭证's (the default when the metadata does not say: the
    voucher's rules are the stricter); ledgers, reports and other records are not
    (docs/records.md)."""
    category = category_of(pkg)
    return category in (None, "voucher")


def record_file(pkg: Package) -> tuple[str, Any] | None:
    """(path, parsed root) of a non-voucher item's record XML (role ``record``), or None."""
    if "record_file" not in pkg.derived:
        found = None
        for f in (metadata_files(pkg) if pkg.metadata is not None else []):
            if f.get("角色") == "record":
                path = f.get("计算机文件名", "")
                data = pkg.members.get(path)
                if data is not None:
                    try:
                        found = (path, xmlsafe.parse(data, path))
                    except InvoiceFormatError:
                        found = (path, None)
                break
        pkg.derived["record_file"] = found
    return pkg.derived["record_file"]


def metadata_code(pkg: Package) -> str | None:
    """The 档号 the metadata records, or None."""
    el = element(pkg.metadata, "档号") if pkg.metadata is not None else None
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


# -- outside the checks: what a package says of itself, what an item expects ---------------
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
    pkg = open_package(bag_zip, {})
    problem = pkg.error or pkg.metadata_error
    if problem:
        return PackageContents(None, [], {}, problem)
    files = [{"path": f.get("计算机文件名", ""), "role": f.get("角色", ""), "media_type": f.get("格式信息", ""),
              "size": f.get("计算机文件大小", ""), "sha256": f.get("SHA256", ""), "sm3": f.get("SM3", "")}
             for f in metadata_files(pkg)]
    return PackageContents(metadata_code(pkg), files, pkg.payload)


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
