"""A minimal read-only DER/BER walker that keeps raw offsets.

Signatures in OFD files are made over the bytes *as stored* (some producers
write non-DER GeneralizedTime values, raw r||s signatures and so on).  A full
ASN.1 library would re-encode what it parsed; this walker never does: every
node knows where it starts and ends in the original buffer, so ``node.raw`` is
exactly what the signer hashed.

Only definite lengths are supported (DER, and the BER that signing tools
actually emit).  Malformed input raises :class:`DerError`.
"""
from __future__ import annotations

from typing import Iterator

UNIVERSAL, APPLICATION, CONTEXT, PRIVATE = 0, 1, 2, 3

# universal tag numbers used here
BOOLEAN, INTEGER, BIT_STRING, OCTET_STRING, NULL, OID = 1, 2, 3, 4, 5, 6
UTF8_STRING, SEQUENCE, SET = 12, 16, 17
PRINTABLE_STRING, IA5_STRING, UTC_TIME, GENERALIZED_TIME = 19, 22, 23, 24


class DerError(ValueError):
    """The bytes are not the DER structure we expected."""


class Node:
    """One TLV inside ``buf`` (read-only by convention)."""

    __slots__ = ("buf", "start", "hdr", "length", "cls", "constructed", "tag")

    def __init__(self, buf: bytes, start: int, hdr: int, length: int, cls: int,
                 constructed: bool, tag: int):
        self.buf = buf
        self.start = start      # offset of the identifier octet
        self.hdr = hdr          # header length (identifier + length octets)
        self.length = length    # content length
        self.cls = cls
        self.constructed = constructed
        self.tag = tag

    def __repr__(self) -> str:
        return f"<Node class={self.cls} tag={self.tag} at {self.start} len={self.length}>"

    @property
    def end(self) -> int:
        return self.start + self.hdr + self.length

    @property
    def raw(self) -> bytes:
        """The whole TLV, byte for byte as stored."""
        return self.buf[self.start:self.end]

    @property
    def content(self) -> bytes:
        return self.buf[self.start + self.hdr:self.end]

    def children(self) -> list[Node]:
        if not self.constructed:
            raise DerError(f"tag {self.tag} is primitive, has no children")
        return list(iter_nodes(self.buf, self.start + self.hdr, self.end))

    def is_(self, tag: int, cls: int = UNIVERSAL) -> bool:
        return self.tag == tag and self.cls == cls

    # --- value helpers -------------------------------------------------
    def as_int(self) -> int:
        self._expect(INTEGER)
        return int.from_bytes(self.content, "big", signed=True)

    def as_oid(self) -> str:
        self._expect(OID)
        return decode_oid(self.content)

    def as_bits(self) -> bytes:
        """BIT STRING content without the unused-bits octet."""
        self._expect(BIT_STRING)
        c = self.content
        if not c:
            raise DerError("empty BIT STRING")
        # the unused-bits octet is ignored: some producers write a non-zero
        # count in front of whole-octet signatures (seen in bank receipts)
        return c[1:]

    def unused_bits(self) -> int:
        """The BIT STRING's unused-bits octet (0..7 in DER; any value is
        reported as found, for the caller to judge)."""
        self._expect(BIT_STRING)
        if not self.content:
            raise DerError("empty BIT STRING")
        return self.content[0]

    def as_text(self) -> str:
        c = self.content
        try:
            return c.decode("utf-8")
        except UnicodeDecodeError:
            return c.decode("latin-1")

    def _expect(self, tag: int) -> None:
        if self.cls != UNIVERSAL or self.tag != tag:
            raise DerError(f"expected universal tag {tag}, found class {self.cls} tag {self.tag}")


def parse(buf: bytes, offset: int = 0, end: int | None = None) -> Node:
    """Parse the single TLV at ``offset``."""
    end = len(buf) if end is None else end
    if offset + 2 > end:
        raise DerError("truncated header")
    b0 = buf[offset]
    cls = b0 >> 6
    constructed = bool(b0 & 0x20)
    tag = b0 & 0x1F
    i = offset + 1
    if tag == 0x1F:  # high tag number form
        tag = 0
        while True:
            if i >= end:
                raise DerError("truncated tag")
            b = buf[i]
            i += 1
            tag = (tag << 7) | (b & 0x7F)
            if not b & 0x80:
                break
    if i >= end:
        raise DerError("truncated length")
    ln = buf[i]
    i += 1
    if ln & 0x80:
        n = ln & 0x7F
        if n == 0:
            raise DerError("indefinite length is not supported")
        if n > 4 or i + n > end:
            raise DerError("bad length")
        ln = int.from_bytes(buf[i:i + n], "big")
        i += n
    if i + ln > end:
        raise DerError("content runs past the end of its container")
    return Node(buf, offset, i - offset, ln, cls, constructed, tag)


def parse_all(buf: bytes) -> Node:
    """Parse ``buf`` as exactly one TLV (trailing bytes are an error)."""
    node = parse(buf)
    if node.end != len(buf):
        raise DerError(f"{len(buf) - node.end} trailing bytes after the structure")
    return node


def iter_nodes(buf: bytes, offset: int, end: int) -> Iterator[Node]:
    while offset < end:
        node = parse(buf, offset, end)
        yield node
        offset = node.end


def decode_oid(c: bytes) -> str:
    if not c:
        raise DerError("empty OID")
    arcs: list[int] = []
    v = 0
    for b in c:
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(v)
            v = 0
    first = arcs[0]
    if first < 40:
        head = [0, first]
    elif first < 80:
        head = [1, first - 40]
    else:
        head = [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


# --- encoding: only what is needed to wrap values, never to re-encode signed data
def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(identifier: int, content: bytes) -> bytes:
    return bytes([identifier]) + encode_length(len(content)) + content


def encode_uint(n: int) -> bytes:
    b = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
    if b[0] & 0x80:
        b = b"\x00" + b
    return tlv(0x02, b)
