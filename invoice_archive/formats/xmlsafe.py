"""Safe, fast XML for the readers: expat without namespace processing.

* DTDs and entity declarations are refused *before* parsing (and again by expat
  handlers, as a second line): nothing is ever expanded or fetched.
* Text must be UTF-8 (a UTF-8 BOM is fine); a declared GBK/GB2312/GB18030 file is
  transcoded, anything else is ``bad_encoding``.
* No namespace processing, so the OFD tag dialect ``<:eInvoice xmlns:="">`` that
  ElementTree rejects is read. Element and attribute names are kept as their
  *local* part (``ofd:TextObject`` -> ``TextObject``); the prefix is kept too.
* Trees are ElementTree elements built in C (fast); only files that need the
  namespace-free fallback go through Python callbacks, where depth is capped.
"""
from __future__ import annotations

import re
import threading
from typing import Any, Callable, TypeVar
import xml.etree.ElementTree as ET
from xml.parsers import expat

from .errors import InvoiceFormatError
from .limits import DEFAULT_LIMITS, Limits

_BOM = b"\xef\xbb\xbf"
_DECL_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_GB_ENCODINGS = {"gbk", "gb2312", "gb18030", "gb_2312-80", "cp936"}


Element = ET.Element
T = TypeVar("T")

_TAG_MEMO_LIMIT = 20_000


def tag_memo(compute: Callable[[Any], T]) -> Callable[[Any], T]:
    """Memoise a pure function of an element tag.  Readers ask the same few dozen
    tags thousands of times; the cache is emptied when a hostile file brings
    endless distinct tags."""
    cache: dict[Any, T] = {}

    def lookup(tag: Any) -> T:
        try:
            return cache[tag]
        except KeyError:
            pass
        if len(cache) > _TAG_MEMO_LIMIT:
            cache.clear()
        value = cache[tag] = compute(tag)
        return value

    lookup.__doc__ = compute.__doc__
    lookup.__name__ = compute.__name__
    return lookup


@tag_memo
def local(tag: str) -> str:
    """'{uri}TextObject' / '{ofd}TextObject' / 'TextObject' -> 'TextObject' (memoised)."""
    return tag.rpartition("}")[2] if tag[:1] == "{" else tag


def ns_of(el: Element) -> str:
    """The namespace URI (or, for prefix-only dialects, the prefix) of an element."""
    tag = el.tag
    return tag[1 : tag.index("}")] if tag[:1] == "{" else ""


def text_of(el: Element | None) -> str | None:
    if el is None:
        return None
    if len(el):
        return "".join(el.itertext())
    return el.text or ""


def find(el: Element | None, name: str) -> Element | None:
    """The first child whose local name is ``name`` (any namespace or none)."""
    if el is None:
        return None
    if type(el) is not Element:   # lxml: matched in C, no proxy per skipped child
        return next(el.iterchildren("{*}" + name), None)
    for child in el:
        if local(child.tag) == name:
            return child
    return None


def findall(el: Element | None, name: str) -> list[Element]:
    if el is None:
        return []
    if type(el) is not Element:
        return list(el.iterchildren("{*}" + name))
    return [child for child in el if local(child.tag) == name]


def findtext(el: Element | None, name: str) -> str | None:
    return text_of(find(el, name))


def path(el: Element | None, *names: str) -> Element | None:
    for name in names:
        el = find(el, name)
    return el


def attr(el: Element, name: str) -> str | None:
    value = el.get(name)
    if value is not None:
        return value
    suffix = "}" + name
    for key, value in el.attrib.items():
        if key.endswith(suffix):
            return value
    return None


def prepare(data: bytes, member: str) -> bytes:
    """Return UTF-8 bytes fit for the parser, refusing DTDs and non-UTF-8 text.

    UTF-8 validity itself is left to the parser (libxml2 and expat both refuse
    malformed UTF-8); :func:`_malformed` then tells bad encoding from bad XML.
    """
    if data[:1].isspace() or data[3:4].isspace() and data.startswith(_BOM):
        # some producers emit blank lines before the declaration
        data = (data[3:] if data.startswith(_BOM) else data).lstrip()
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InvoiceFormatError("bad_encoding", member=member, encoding="utf-16")
    start = 3 if data.startswith(_BOM) else 0
    match = _DECL_ENCODING.match(data, start, start + 200)
    declared = match.group(1).decode("ascii").lower() if match else "utf-8"
    if declared in ("utf-8", "utf8"):
        pass
    elif declared in _GB_ENCODINGS:
        try:
            text = data[start:].decode("gb18030")
        except UnicodeDecodeError as exc:
            raise InvoiceFormatError("bad_encoding", member=member, position=exc.start) from None
        data = text.encode("utf-8")
        match = _DECL_ENCODING.match(data[:200])
        if match:  # the declaration is ASCII, so its offsets survive transcoding
            data = data[: match.start(1)] + b"UTF-8" + data[match.end(1) :]
    else:
        raise InvoiceFormatError("bad_encoding", member=member, encoding=declared)
    refuse_dtd(data, member)
    return data


def _check_utf8(data: bytes, member: str) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvoiceFormatError("bad_encoding", member=member, position=exc.start) from None


def refuse_dtd(data: bytes, member: str) -> None:
    """Refuse any markup declaration (``<!DOCTYPE``, ``<!ENTITY``, ...) before parsing.

    Only comments and CDATA sections may start with ``<!``. Conservative: a
    ``<!`` inside a comment or CDATA that is not itself a comment or CDATA start
    is also refused.
    """
    if data.count(b"<!") == data.count(b"<!--") + data.count(b"<![CDATA["):
        return   # every "<!" opens a comment or a CDATA section (counted in C)
    find = data.find
    pos = find(b"<!")
    while pos != -1:
        head = data[pos : pos + 9]
        if not (head.startswith(b"<!--") or head == b"<![CDATA["):
            raise InvoiceFormatError("xml_dtd_forbidden", member=member, offset=pos)
        pos = find(b"<!", pos + 2)


def _forbid(*_args: object) -> None:
    raise _Dtd()


class _Dtd(Exception):
    pass


class _TooDeep(Exception):
    pass


def _new_parser() -> expat.XMLParserType:
    parser = expat.ParserCreate()  # no namespace processing
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _forbid
    parser.EntityDeclHandler = _forbid
    parser.ExternalEntityRefHandler = _forbid
    return parser


def parse(data: bytes, member: str = "", limits: Limits | None = None) -> Element:
    """Parse bytes into an ElementTree element, or raise :class:`InvoiceFormatError`.

    Tags are ``{namespace-uri}local`` as usual; for files with undeclared
    prefixes (tag dialect A) they are ``{prefix}local``. Use :func:`local`,
    :func:`find` and friends to address elements by local name.
    """
    limits = limits or DEFAULT_LIMITS
    data = prepare(data, member)
    if _lxml is not None:
        try:
            return _lxml.fromstring(data, _lxml_parser())
        except _lxml.XMLSyntaxError:
            pass  # e.g. unbound prefix: retry without namespace processing
    else:
        parser = ET.XMLParser()
        try:
            parser.feed(data)
            return parser.close()
        except ET.ParseError:
            pass
    _check_utf8(data, member)
    return _parse_without_namespaces(data, member, limits)


try:  # lxml (libxml2) builds trees 2-4x faster than ElementTree; same element API
    from lxml import etree as _lxml
except ImportError:  # pragma: no cover - ElementTree is the fallback
    _lxml = None

_LXML_PARSERS = threading.local()


def _lxml_parser():
    """One parser per thread (lxml parsers are not thread-safe), DTDs off, no network."""
    parser = getattr(_LXML_PARSERS, "parser", None)
    if parser is None:
        parser = _LXML_PARSERS.parser = _lxml.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,  # libxml2's own depth and size caps stay on
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
    return parser


def _parse_without_namespaces(data: bytes, member: str, limits: Limits) -> Element:
    max_depth = limits.max_xml_depth
    parser = _new_parser()
    builder = ET.TreeBuilder()
    depth = [0]

    def qualify(name: str) -> str:
        prefix, _, name = name.rpartition(":")
        return f"{{{prefix}}}{name}" if prefix else name

    def start(name: str, attrs: dict[str, str]) -> None:
        depth[0] += 1
        if depth[0] > max_depth:
            raise _TooDeep()
        builder.start(qualify(name), {qualify(k): v for k, v in attrs.items()} if attrs else {})

    def end(name: str) -> None:
        depth[0] -= 1
        builder.end(qualify(name))

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    _run(parser, data, member)
    try:
        return builder.close()
    except AssertionError:  # pragma: no cover - expat guarantees balance
        raise InvoiceFormatError("xml_malformed", member=member, reason="no root element") from None


def _run(parser: expat.XMLParserType, data: bytes, member: str) -> None:
    try:
        parser.Parse(data, True)
    except _Dtd:
        raise InvoiceFormatError("xml_dtd_forbidden", member=member) from None
    except _TooDeep:
        raise InvoiceFormatError("xml_malformed", member=member, reason="nesting too deep") from None
    except expat.ExpatError as exc:
        raise InvoiceFormatError(
            "xml_malformed", member=member, reason=expat.ErrorString(exc.code), line=exc.lineno
        ) from None
    except RecursionError:  # pragma: no cover - defensive
        raise InvoiceFormatError("xml_malformed", member=member, reason="nesting too deep") from None


_OFD_NS = "{http://www.ofdspec.org/2016}"


def scan_text_objects(
    data: bytes, member: str, limits: Limits | None = None
) -> tuple[dict[str, tuple[str, float]], str | None]:
    """Read an OFD page: TextObject ID -> (text, top y of its Boundary), and its TemplateID."""
    root = parse(data, member, limits)
    ns = f"{{{ns_of(root)}}}" if root.tag[:1] == "{" else ""
    objects: dict[str, tuple[str, float]] = {}
    for obj in root.iter(ns + "TextObject"):
        oid = obj.get("ID")
        if oid is None:
            continue
        parts = [(code.text or "").strip() for code in obj.iter(ns + "TextCode")]
        boundary = (obj.get("Boundary") or "").split()
        try:
            y = float(boundary[1]) if len(boundary) > 1 else 0.0
        except ValueError:
            y = 0.0
        objects[oid] = ("".join(parts), y)
    template = None
    for tpl in root.iter(ns + "Template"):
        template = tpl.get("TemplateID")
        break
    return objects, template
