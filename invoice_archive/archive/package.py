"""Archive packages as BagIt bags (RFC 8493) inside a zip: pure functions, no database.

The bag's payload holds, in DA/T 94 8.4 order (docs/standards.md), the voucher, the claim, the
original e-invoices byte for byte, their verification reports and the item's
metadata; SHA-256 and SM3 manifests and tag manifests make it self-proving.
"""
from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from typing import Iterable, Mapping, MutableMapping

from invoice_archive.digests import sha256_hex, sm3_hex

BAGIT_VERSION = "1.0"
ALGORITHMS = {"sha256": sha256_hex, "sm3": sm3_hex}
# already-compressed formats are stored, the rest deflated (an open algorithm: DA/T 92)
_STORED = (".ofd", ".zip", ".pdf", ".png", ".jpg")


@dataclass(frozen=True)
class PackageFile:
    name: str          # file name inside data/
    data: bytes
    role: str          # voucher / claim / original / verification / metadata ...
    media_type: str


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    role: str
    media_type: str
    size: int
    sha256: str
    sm3: str

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "role": self.role, "media_type": self.media_type,
                "size": self.size, "sha256": self.sha256, "sm3": self.sm3}


def _encode_path(path: str) -> str:
    """RFC 8493 2.1.3 (docs/standards.md): percent-encode CR, LF and % in manifest paths."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _manifest(entries: Iterable[tuple[str, str]]) -> bytes:
    """A manifest's text from (digest, path) pairs."""
    return "".join(f"{digest}  {_encode_path(path)}\n" for digest, path in entries).encode("utf-8")


def manifest_entry(f: PackageFile, memo: MutableMapping[PackageFile, ManifestEntry] | None = None) -> ManifestEntry:
    """The manifest entry of one payload file. A caller that builds a package more than
    once from the same files (archiving seals a package twice: docs/metadata.md) passes
    a ``memo``: it is keyed by the file itself, bytes included, so a digest is reused only
    for the very same bytes."""
    if memo is not None and (known := memo.get(f)) is not None:
        return known
    entry = ManifestEntry(path=f"data/{f.name}", role=f.role, media_type=f.media_type, size=len(f.data),
                          sha256=sha256_hex(f.data), sm3=sm3_hex(f.data))
    if memo is not None:
        memo[f] = entry
    return entry


def build_bag(bag_name: str, files: list[PackageFile], bag_info: Mapping[str, str],
              created: dt.datetime, *,
              memo: MutableMapping[PackageFile, ManifestEntry] | None = None) -> tuple[bytes, list[ManifestEntry]]:
    """Build the bag as a zip whose single top folder is bag_name. Deterministic for
    the same inputs (fixed member order and timestamps). Each payload file is hashed
    once (its manifest entry gives both manifests), or not at all when ``memo`` holds it."""
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise ValueError("duplicate file names in package")
    payload = [(f"data/{f.name}", f.data) for f in files]
    manifest = [manifest_entry(f, memo) for f in files]
    oxum = f"{sum(len(d) for _, d in payload)}.{len(payload)}"
    info = dict(bag_info)
    info.setdefault("Bagging-Date", created.date().isoformat())
    info["Payload-Oxum"] = oxum
    tags: list[tuple[str, bytes]] = [
        ("bagit.txt", f"BagIt-Version: {BAGIT_VERSION}\nTag-File-Character-Encoding: UTF-8\n".encode()),
        ("bag-info.txt", "".join(f"{k}: {v}\n" for k, v in info.items()).encode("utf-8")),
    ]
    for alg in ALGORITHMS:
        tags.append((f"manifest-{alg}.txt", _manifest((getattr(m, alg), m.path) for m in manifest)))
    tagmanifests = [(f"tagmanifest-{alg}.txt", _manifest((fn(data), path) for path, data in tags))
                    for alg, fn in ALGORITHMS.items()]

    buf = io.BytesIO()
    stamp = created.astimezone(dt.timezone.utc).timetuple()[:6]
    with zipfile.ZipFile(buf, "w") as zf:
        for path, data in tags + tagmanifests + payload:
            zinfo = zipfile.ZipInfo(f"{bag_name}/{path}", date_time=stamp)
            zinfo.compress_type = zipfile.ZIP_STORED if path.lower().endswith(_STORED) else zipfile.ZIP_DEFLATED
            zinfo.external_attr = 0o644 << 16
            zf.writestr(zinfo, data)
    return buf.getvalue(), manifest


def read_manifest(bag_zip: bytes, algorithm: str = "sha256") -> dict[str, str]:
    """path -> digest from a bag's payload manifest (for checks and tests)."""
    with zipfile.ZipFile(io.BytesIO(bag_zip)) as zf:
        top = zf.namelist()[0].split("/", 1)[0]
        text = zf.read(f"{top}/manifest-{algorithm}.txt").decode("utf-8")
    out = {}
    for line in text.splitlines():
        digest, _, path = line.partition("  ")
        out[path] = digest
    return out
