"""Sign a PDF the way PDF signers do: an incremental update adds a signature field
whose value dictionary holds /ByteRange and a zero-filled /Contents placeholder;
the ranges are filled in, the bytes they name are signed, and the CMS SignedData
is written into the placeholder as hex."""
from __future__ import annotations

import re
from typing import Callable

PLACEHOLDER = 8192   # bytes of signature room (hex doubles it)


def _startxref(pdf: bytes) -> int:
    return int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])


def sign_pdf(pdf: bytes, sign: Callable[[bytes], bytes], *, subfilter: str = "adbe.pkcs7.detached",
             when: str = "D:20240528141733+08'00'") -> bytes:
    """``sign(content) -> DER CMS SignedData`` over the bytes the ByteRange names."""
    size = int(re.findall(rb"/Size\s+(\d+)", pdf)[-1])
    field_no, sig_no = size, size + 1
    catalog = re.search(rb"1 0 obj\n(<<.*?>>)\nendobj", pdf, re.S).group(1)
    new_catalog = catalog[:-2] + b" /AcroForm << /Fields [%d 0 R] /SigFlags 3 >> >>" % field_no
    byte_range = b"/ByteRange [0 0000000000 0000000000 0000000000]"
    objects = {
        1: new_catalog,
        field_no: b"<< /FT /Sig /T (Signature1) /V %d 0 R /Type /Annot /Subtype /Widget /Rect [0 0 0 0] >>"
                  % sig_no,
        sig_no: (b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /" + subfilter.encode() + b" "
                 + byte_range + b" /M (" + when.encode() + b") /Contents <" + b"0" * (2 * PLACEHOLDER)
                 + b"> >>"),
    }
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets = {}
    for num, body in objects.items():
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n1 1\n%010d 00000 n \n%d 2\n" % (offsets[1], field_no)
    out += b"%010d 00000 n \n%010d 00000 n \n" % (offsets[field_no], offsets[sig_no])
    out += b"trailer\n<< /Size %d /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        sig_no + 1, _startxref(pdf), xref)
    start = out.index(b"/Contents <", offsets[sig_no]) + len(b"/Contents ")
    end = out.index(b">", start) + 1
    ranges = b"/ByteRange [0 %010d %010d %010d]" % (start, end, len(out) - end)
    at = out.index(byte_range, offsets[sig_no])
    out[at:at + len(byte_range)] = ranges
    signature = sign(bytes(out[:start]) + bytes(out[end:]))
    hexed = signature.hex().encode()
    if len(hexed) > 2 * PLACEHOLDER:
        raise ValueError("signature larger than its placeholder")
    out[start + 1:start + 1 + len(hexed)] = hexed
    return bytes(out)
