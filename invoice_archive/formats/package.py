"""A safe zip opener for OFD packages.

The central directory is read with :mod:`zipfile` (after a cheap pre-check of
the end-of-central-directory record, so a forged entry count cannot make us
parse millions of entries). Members are decompressed lazily, one at a time, and
only when asked for, with every limit enforced twice: on the sizes the archive
declares, and on the bytes actually produced while inflating.
"""
from __future__ import annotations

import struct
from functools import partial
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from .errors import InvoiceFormatError
from .limits import DEFAULT_LIMITS, Limits

_EOCD = b"PK\x05\x06"
_LOCAL = b"PK\x03\x04"
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_NESTED_SUFFIXES = (".zip", ".ofd", ".rar", ".7z", ".gz", ".tgz", ".tar", ".jar", ".bz2", ".xz", ".cab")
_NESTED_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"Rar!", b"7z\xbc\xaf", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"MSCF")


class MemberInfo(NamedTuple):
    name: str
    compressed_size: int
    file_size: int
    compress_type: int
    header_offset: int
    crc: int


_new_info = partial(tuple.__new__, MemberInfo)   # skips NamedTuple's Python-level __new__
_UNSAFE_FIRST = ("/", "\\", "")


def check_upload(data: bytes, limits: Limits, *, size: int | None = None) -> None:
    """The upload limits, on the bytes or (``size``) on a file not yet read."""
    n = len(data) if size is None else size
    if not n:
        raise InvoiceFormatError("empty_file")
    if n > limits.max_upload_bytes:
        raise InvoiceFormatError("too_large", size=n, limit=limits.max_upload_bytes)


def _safe_name(name: str) -> str:
    """Refuse absolute, drive-letter, parent-escaping and control-character names."""
    if name[:1] not in ("/", "\\", "") and ".." not in name and "\\" not in name and ":" not in name and "\x00" not in name:
        return name.removeprefix("./")
    bad = (
        not name
        or name.startswith(("/", "\\"))
        or "\\" in name
        or "\x00" in name
        or (len(name) > 1 and name[1] == ":")
        or any(part == ".." for part in name.split("/"))
    )
    if bad:
        raise InvoiceFormatError("path_traversal", member=name[:200])
    return name.removeprefix("./")


_EOCD_STRUCT = struct.Struct("<4s4H2LH")
_CDIR = b"PK\x01\x02"
_CDIR_STRUCT = struct.Struct("<4s6H3L5H2L")
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
_ZIP64_EOCD_STRUCT = struct.Struct("<4sQ2H2L4Q")


def _find_eocd(data: bytes) -> int:
    """Offset of the end-of-central-directory record, or -1."""
    return data.rfind(_EOCD, max(0, len(data) - 65_557))


def _central_directory(data: bytes, limits: Limits) -> tuple[bytes, int, int, int]:
    """Locate the central directory: (data, offset, size, entry count), count already capped.

    The zip structures are read here (rather than with :mod:`zipfile`) so that
    the entry count is checked before any entry is parsed, sizes are checked as
    they are read, and a hostile archive costs no more than its directory's bytes.
    """
    pos = _find_eocd(data)
    if pos < 0 or pos + 22 > len(data):
        if data.startswith(_LOCAL):
            raise InvoiceFormatError("truncated_zip", reason="no end of central directory")
        raise InvoiceFormatError("unsupported_format", detected="不是 ZIP/OFD 文件")
    _sig, disk, cd_disk, _n_disk, count, cd_size, cd_offset, _clen = _EOCD_STRUCT.unpack_from(data, pos)
    if disk != 0 or cd_disk != 0:
        raise InvoiceFormatError("corrupt_zip", member="", reason="multi-volume archive")
    if count == 0xFFFF or cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF:
        loc = pos - 20
        if loc < 0 or data[loc : loc + 4] != _ZIP64_LOCATOR:
            raise InvoiceFormatError("truncated_zip", reason="zip64 locator missing")
        z64 = struct.unpack_from("<Q", data, loc + 8)[0]
        if z64 + 56 > len(data) or data[z64 : z64 + 4] != _ZIP64_EOCD:
            raise InvoiceFormatError("truncated_zip", reason="zip64 record missing")
        fields = _ZIP64_EOCD_STRUCT.unpack_from(data, z64)
        count, cd_size, cd_offset = fields[7], fields[8], fields[9]
    if count > limits.max_members:
        raise InvoiceFormatError("too_many_members", count=count, limit=limits.max_members)
    # Some writers prepend data (self-extractors); trust the EOCD position.
    if cd_offset + cd_size > pos:
        shift = pos - cd_size - cd_offset
        if shift < 0:
            raise InvoiceFormatError("truncated_zip", reason="central directory outside the file")
        cd_offset += shift
    return data, cd_offset, cd_size, count


def _zip64_extra(extra: bytes, usize: int, csize: int, hoff: int) -> tuple[int, int, int]:
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<2H", extra, i)
        if tag == 0x0001:
            body = extra[i + 4 : i + 4 + size]
            values = [struct.unpack_from("<Q", body, j)[0] for j in range(0, len(body) - 7, 8)]
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if hoff == 0xFFFFFFFF and values:
                hoff = values.pop(0)
            break
        i += 4 + size
    return usize, csize, hoff


def _decode_name(raw: bytes, flags: int) -> str:
    if raw.isascii():
        return raw.decode("ascii")
    if flags & 0x800:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:  # Chinese producers write GBK names without the UTF-8 flag
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        return raw.decode("cp437")


class OfdPackage(Mapping[str, bytes]):
    """Read-only mapping of member name -> bytes (lazily inflated, then cached).

    Names are stored without a leading "/"; lookups accept either form, and fall
    back to a case-insensitive match (some producers write ``TPLS/`` but refer
    to ``Tpls/``). Directory entries are not members.
    """

    def __init__(self, data: bytes, infos: dict[str, MemberInfo], limits: Limits) -> None:
        self._data = data
        self._infos = infos
        self._limits = limits
        self._cache: dict[str, bytes] = {}
        self._lower: dict[str, str] | None = None
        self._inflated = 0

    # -- Mapping -------------------------------------------------------------
    def __getitem__(self, name: str) -> bytes:
        key = self.resolve_name(name)
        if key is None:
            raise KeyError(name)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._read(self._infos[key])
        return cached

    def __iter__(self) -> Iterator[str]:
        return iter(self._infos)

    def __len__(self) -> int:
        return len(self._infos)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.resolve_name(name) is not None

    # -- helpers -------------------------------------------------------------
    @property
    def infos(self) -> Mapping[str, MemberInfo]:
        return self._infos

    def resolve_name(self, name: str) -> str | None:
        key = name.lstrip("/")
        if key in self._infos:
            return key
        if self._lower is None:
            self._lower = {n.lower(): n for n in self._infos}
        return self._lower.get(key.lower())

    def get_text_member(self, name: str) -> bytes | None:
        key = self.resolve_name(name)
        return None if key is None else self[key]

    def check_all(self) -> None:
        """Inflate every member, enforcing every limit (for callers that need all bytes)."""
        for name in self._infos:
            self[name]

    def _read(self, info: MemberInfo) -> bytes:
        limits = self._limits
        data = self._data
        off = info.header_offset
        if off + 30 > len(data):
            raise InvoiceFormatError("truncated_zip", member=info.name)
        sig, _ver, _flag, _method, _t, _d, _crc, _cs, _us, nlen, elen = _LOCAL_HEADER.unpack_from(data, off)
        if sig != _LOCAL:
            raise InvoiceFormatError("corrupt_zip", member=info.name, reason="bad local header")
        start = off + 30 + nlen + elen
        end = start + info.compressed_size
        if end > len(data):
            raise InvoiceFormatError("truncated_zip", member=info.name)
        raw = data[start:end]
        # Never inflate past the declared size (nor past the remaining budget):
        # a member that produces more than it declared is a bomb by definition.
        budget = min(limits.max_member_bytes, limits.max_total_uncompressed - self._inflated)
        if info.file_size > budget:
            raise InvoiceFormatError("zip_bomb", member=info.name, size=info.file_size)
        if info.compress_type == zipfile.ZIP_STORED:
            out = raw
        else:  # ZIP_DEFLATED, checked at open
            inflater = zlib.decompressobj(-15)
            try:
                out = inflater.decompress(raw, info.file_size + 1)
            except zlib.error:
                raise InvoiceFormatError("corrupt_zip", member=info.name, reason="bad deflate data") from None
            if len(out) > info.file_size:
                raise InvoiceFormatError("zip_bomb", member=info.name, declared=info.file_size)
            if not inflater.eof and not (len(out) == info.file_size and not inflater.unconsumed_tail):
                raise InvoiceFormatError("corrupt_zip", member=info.name, reason="deflate stream incomplete")
        if len(out) != info.file_size:
            raise InvoiceFormatError(
                "corrupt_zip", member=info.name, reason="size differs from the declared size"
            )
        if zlib.crc32(out) != info.crc:
            raise InvoiceFormatError("corrupt_zip", member=info.name, reason="CRC mismatch")
        if out.startswith(_NESTED_MAGIC):
            raise InvoiceFormatError("nested_archive", member=info.name)
        self._inflated += len(out)
        return out


def _max_compressed(size: int, method: int) -> int:
    """The most compressed bytes an honest member of ``size`` bytes can take:
    stored, exactly its size; deflated, stored blocks of at most 65535 bytes
    with 5 bytes of overhead each, plus slack for encoders that flush often."""
    if method == 0:
        return size
    return size + 5 * (size // 16383 + 1) + 64


def open_ofd(data: bytes, limits: Limits | None = None) -> OfdPackage:
    """Open an OFD (zip) safely. Raises :class:`InvoiceFormatError` on any hostile trait."""
    limits = limits or DEFAULT_LIMITS
    check_upload(data, limits)
    data, off, cd_size, count = _central_directory(data, limits)
    end = off + cd_size
    size_of_data = len(data)
    max_member = limits.max_member_bytes
    max_total = limits.max_total_uncompressed
    ratio_floor = limits.ratio_floor_bytes
    max_ratio = limits.max_ratio
    unpack = _CDIR_STRUCT.unpack_from
    infos: dict[str, MemberInfo] = {}
    total = 0
    for _ in range(count):
        if off + 46 > end or data[off : off + 4] != _CDIR:
            raise InvoiceFormatError("truncated_zip", reason="central directory damaged")
        (_s, _vm, _vn, flags, method, _t, _d, crc, csize, size, nlen, elen, clen, _dn, _ia, _ea, hoff) = unpack(
            data, off
        )
        start = off + 46
        raw_name = data[start : start + nlen]
        if len(raw_name) != nlen:
            raise InvoiceFormatError("truncated_zip", reason="central directory damaged")
        if csize == 0xFFFFFFFF or size == 0xFFFFFFFF or hoff == 0xFFFFFFFF:
            size, csize, hoff = _zip64_extra(data[start + nlen : start + nlen + elen], size, csize, hoff)
        off = start + nlen + elen + clen
        if raw_name.isascii():   # the common case, inlined: a plain relative name
            name = raw_name.decode("ascii")
            if name[:1] in _UNSAFE_FIRST or ".." in name or "\\" in name or ":" in name or "\x00" in name:
                name = _safe_name(name)
            elif name[:2] == "./":
                name = name[2:]
        else:
            name = _safe_name(_decode_name(raw_name, flags))
        if flags & 0x1:
            raise InvoiceFormatError("encrypted_zip", member=name)
        if name[-1:] == "/":
            continue  # a directory entry: nothing to read
        if name in infos:
            raise InvoiceFormatError("duplicate_member", member=name)
        if name.lower().endswith(_NESTED_SUFFIXES):
            raise InvoiceFormatError("nested_archive", member=name)
        if method != 8 and method != 0:  # deflated / stored
            raise InvoiceFormatError("corrupt_zip", member=name, reason=f"unsupported compression method {method}")
        if size > max_member:
            raise InvoiceFormatError("zip_bomb", member=name, size=size)
        if size > ratio_floor and size > max_ratio * max(1, csize):
            raise InvoiceFormatError("zip_bomb", member=name, ratio=size // max(1, csize))
        if csize > _max_compressed(size, method):
            # Deflate never grows data by more than a few bytes per 16 KiB, and a
            # stored member is its own size: a header that says "4 KB" over 1 MB
            # of deflate data lies about what it inflates to (a bomb's disguise).
            raise InvoiceFormatError("zip_bomb", member=name, size=size, compressed=csize)
        total += size
        if total > max_total:
            raise InvoiceFormatError("zip_bomb", member=name, size=total)
        if hoff + 30 > size_of_data or hoff + csize > size_of_data:
            raise InvoiceFormatError("truncated_zip", member=name)
        infos[name] = _new_info((name, csize, size, method, hoff, crc))
    return OfdPackage(data, infos, limits)
