"""Build small text PDFs for tests: a Type0 font with Identity-H and a ToUnicode
map (no embedded glyphs), so any text library extracts the exact Unicode text."""
from __future__ import annotations


def make_text_pdf(lines: list[str], *, pages: int = 1) -> bytes:
    chars = sorted({ch for line in lines for ch in line})
    cid = {ch: i + 1 for i, ch in enumerate(chars)}
    content = ["BT /F1 9 Tf"]
    y = 800
    for line in lines:
        hexed = "".join(f"{cid[ch]:04X}" for ch in line)
        content.append(f"1 0 0 1 40 {y} Tm <{hexed}> Tj")
        y -= 14
    content.append("ET")
    stream = "\n".join(content).encode("ascii")
    bfchars = []
    for i in range(0, len(chars), 100):
        block = chars[i : i + 100]
        bfchars.append(f"{len(block)} beginbfchar")
        for ch in block:
            bfchars.append(f"<{cid[ch]:04X}> <{ord(ch):04X}>")
        bfchars.append("endbfchar")
    cmap = (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap "
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def "
        "/CMapName /Adobe-Identity-UCS def /CMapType 2 def "
        "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
        + "\n".join(bfchars)
        + "\nendcmap CMapName currentdict /CMap defineresource pop end end"
    ).encode("ascii")
    page_ids = list(range(7, 7 + pages))
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: ("<< /Type /Pages /Kids [" + " ".join(f"{p} 0 R" for p in page_ids) + f"] /Count {pages} >>").encode(),
        3: b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H "
        b"/DescendantFonts [4 0 R] /ToUnicode 5 0 R >>",
        4: b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /STSong-Light "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 1000 >>",
        5: b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream",
        6: b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    }
    for p in page_ids:
        objects[p] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents 6 0 R >>"
        )
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    xref = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for num in range(1, size):
        out += b"%010d 00000 n \n" % offsets[num]
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    return bytes(out)


def digital_invoice_lines(number: str, *, title: str = "电子发票（普通发票）", buyer_name: str = "测试购买方有限公司",
                          buyer_tax_id: str = "91110000TESTBUY01X") -> list[str]:
    """Printed text of a made-up fully digital invoice (all values invented here)."""
    return [
        title,
        f"发票号码：{number}",
        "开票日期：2024年03月15日",
        f"购买方信息 名称：{buyer_name}",
        f"统一社会信用代码/纳税人识别号：{buyer_tax_id}",
        "销售方信息 名称：测试销售方有限公司",
        "统一社会信用代码/纳税人识别号：91310000TESTSEL02Y",
        "项目名称 规格型号 单位 数量 单价 金额 税率/征收率 税额",
        "*信息技术服务*软件服务费 项 1 100.00 100.00 6% 6.00",
        "合 计 ¥100.00 ¥6.00",
        "价税合计（大写） 壹佰零陆圆整 （小写）¥106.00",
        "备注 收款人:张三; 复核人:李四;",
        "开票人：王五",
    ]
