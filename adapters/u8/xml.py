"""XML helpers for the U8 EAI protocol: building with ElementTree, and parsing
replies with DTDs (and so entity declarations) refused before anything is
expanded."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import xml.parsers.expat
from typing import Any


class UnsafeXml(ValueError):
    """The document declares a DTD or entities: refused."""


def _refuse(*_: Any) -> None:
    raise UnsafeXml("XML 中含有 DTD 或实体声明，已拒绝解析")


_DECLARED = re.compile(rb"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])([A-Za-z0-9._-]+)(["'])""")
_EXPAT_NATIVE = {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "utf-16"}


def _to_utf8(data: bytes) -> bytes:
    """expat reads no multi-byte legacy encodings (GB2312/GBK, which older U8 EAI
    uses): decode those with Python's codec and hand expat UTF-8."""
    match = _DECLARED.match(data)
    if not match or match.group(2).decode("ascii").lower() in _EXPAT_NATIVE:
        return data
    encoding = match.group(2).decode("ascii")
    if encoding.lower() == "gb2312":
        encoding = "gb18030"  # a superset: U8 writes GBK characters under a gb2312 label
    try:
        decoded = data.decode(encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        raise ValueError(f"XML 声明的编码 {encoding} 无法解码：{exc}") from exc
    return _DECLARED.sub(rb"\g<1>utf-8\g<3>", decoded.encode("utf-8"), count=1)


def safe_fromstring(data: bytes) -> ET.Element:
    """Parse ``data`` (bytes, any declared encoding), refusing any DOCTYPE/ENTITY
    declaration (billion laughs, XXE)."""
    data = _to_utf8(data)
    probe = xml.parsers.expat.ParserCreate()
    probe.StartDoctypeDeclHandler = _refuse
    probe.EntityDeclHandler = _refuse
    probe.ExternalEntityRefHandler = lambda *_: 0
    probe.Parse(data, True)
    return ET.fromstring(data)


def sub(parent: ET.Element, tag: str, text: Any = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        element.text = str(text)
    return element


def tostring(root: ET.Element, encoding: str = "utf-8") -> bytes:
    return ET.tostring(root, encoding=encoding, xml_declaration=True)


def text(element: ET.Element | None, tag: str, default: str = "") -> str:
    if element is None:
        return default
    found = element.find(tag)
    return (found.text or "").strip() if found is not None and found.text else default
