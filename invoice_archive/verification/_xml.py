"""A tiny, safe XML reader for the signature parts of an OFD package.

Expat without namespace processing (so undeclared prefixes, seen in real
invoices, do not break it), DTDs refused (no entity expansion at all).
Element names are reduced to their local part: ``ofd:Reference`` -> ``Reference``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator
from xml.parsers import expat


class XmlError(ValueError):
    pass


@dataclass(slots=True)
class El:
    name: str
    attrs: dict[str, str]
    children: list["El"] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.text_parts).strip()

    def find(self, name: str) -> El | None:
        for c in self.children:
            if c.name == name:
                return c
        return None

    def findall(self, name: str) -> list[El]:
        return [c for c in self.children if c.name == name]

    def iter(self, name: str) -> Iterator[El]:
        stack = [self]
        while stack:
            e = stack.pop()
            if e.name == name:
                yield e
            stack.extend(reversed(e.children))

    def attr(self, name: str) -> str | None:
        v = self.attrs.get(name)
        if v is not None:
            return v
        for k, val in self.attrs.items():          # prefixed attribute
            if k.rsplit(":", 1)[-1] == name:
                return val
        return None


def _local(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def parse_xml(data: bytes) -> El:
    p = expat.ParserCreate()
    p.buffer_text = True
    root: list[El] = []
    stack: list[El] = []

    def start(name, attrs):
        e = El(name.rpartition(":")[2], attrs)
        if stack:
            stack[-1].children.append(e)
        else:
            root.append(e)
        stack.append(e)

    def end(name):
        stack.pop()

    def chars(text):
        if stack:
            stack[-1].text_parts.append(text)

    def refuse(*_a):
        raise XmlError("DTD / entity declarations are not allowed")

    p.StartElementHandler = start
    p.EndElementHandler = end
    p.CharacterDataHandler = chars
    p.StartDoctypeDeclHandler = refuse
    p.EntityDeclHandler = refuse
    try:
        p.Parse(data, True)
    except expat.ExpatError as exc:
        raise XmlError(str(exc)) from None
    if not root:
        raise XmlError("empty document")
    return root[0]
