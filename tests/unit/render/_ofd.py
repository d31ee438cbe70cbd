"""Test helpers: OFD samples as members, and where their text *should* be,
computed here from Content.xml independently of the renderer."""
from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Mapping

from invoice_archive.formats import open_ofd

SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "samples" / "invoices"


def members_of(path: Path) -> dict[str, bytes]:
    if path.is_dir():  # an unzipped OFD
        return {str(p.relative_to(path)).replace("\\", "/"): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    pkg = open_ofd(path.read_bytes())
    return {name: pkg[name] for name in pkg}


def _local(tag: str) -> str:
    return tag.rpartition("}")[2].rpartition(":")[2]


def _xml(data: bytes) -> ET.Element:
    # strip prefixes so undeclared ones don't matter
    text = re.sub(rb"<(/?)[A-Za-z_][\w.-]*:", rb"<\1", data)
    text = re.sub(rb"\sxmlns(:\w+)?=\"[^\"]*\"", b"", text)
    return ET.fromstring(text)


def _get(members: Mapping[str, bytes], path: str) -> bytes | None:
    path = posixpath.normpath(path.lstrip("/"))
    for name, data in members.items():
        if name.lstrip("/").lower() == path.lower():
            return data
    return None


def page_files(members: Mapping[str, bytes]) -> list[str]:
    ofd = _xml(_get(members, "OFD.xml"))
    root = next(el.text.strip() for el in ofd.iter() if _local(el.tag) == "DocRoot")
    doc_dir = posixpath.dirname(root.lstrip("/"))
    doc = _xml(_get(members, root))
    pages = []
    for el in doc.iter():
        if _local(el.tag) == "Page" and el.get("BaseLoc"):
            loc = el.get("BaseLoc")
            pages.append(loc.lstrip("/") if loc.startswith("/") else posixpath.join(doc_dir, loc))
    return pages


def _nums(s: str | None) -> list[float]:
    return [float(v) for v in (s or "").split()]


def expected_text(members: Mapping[str, bytes], page_index: int) -> list[tuple[str, float, float, float]]:
    """(text, x, y, size) of the first glyph of every TextCode on the page's own
    content (origin: Boundary + CTM(X, Y))."""
    data = _get(members, page_files(members)[page_index])
    out = []
    for obj in _xml(data).iter():
        if _local(obj.tag) != "TextObject":
            continue
        bx, by = _nums(obj.get("Boundary"))[:2]
        a, b, c, d, e, f = _nums(obj.get("CTM")) or [1, 0, 0, 1, 0, 0]
        size = float(obj.get("Size") or 0) * abs(a * d - b * c) ** 0.5
        x = y = 0.0
        for code in obj:
            if _local(code.tag) != "TextCode":
                continue
            x = float(code.get("X", x))
            y = float(code.get("Y", y))
            if (code.text or "").strip():
                out.append((code.text, bx + a * x + c * y + e, by + b * x + d * y + f, size))
            # the next TextCode without X/Y continues after this one (not used by the samples)
    return out


OFD_SAMPLES = sorted(
    [p for p in SAMPLES.glob("*/*.ofd")] + [p for p in SAMPLES.glob("*/*_extracted") if p.is_dir()]
) if SAMPLES.is_dir() else []
