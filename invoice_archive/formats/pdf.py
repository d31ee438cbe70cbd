"""PDF invoices (数电票 PDF, 增值税电子发票 PDF): the printed text, read with pypdf.

The weakest source (provenance ``pdf:text``): a PDF carries no structured
record, so fields are recognised by their printed labels. Every document read
from a PDF carries a warning saying so.
"""
from __future__ import annotations

import io
import logging
import re
from typing import Any

from . import normalize as norm
from .einvoice_xml import apply_remark_people
from .errors import InvoiceFormatError
from .limits import Limits
from .merge import Draft, merge
from .model import InvoiceDocument

SOURCE = "pdf:text"

_NUMBER = re.compile(r"发\s*票\s*号\s*码\s*[:：]?\s*(\d{8,20})")
_CODE = re.compile(r"发\s*票\s*代\s*码\s*[:：]?\s*(\d{10,12})")
_DATE = re.compile(r"开\s*票\s*日\s*期\s*[:：]?\s*(\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|\d{4}-\d{2}-\d{2})")
_CHECK = re.compile(r"校\s*验\s*码\s*[:：]?\s*((?:\d\s*){20})")
_MACHINE = re.compile(r"机\s*器\s*编\s*号\s*[:：]?\s*(\d{12})")
_TAX_ID = re.compile(r"(?:纳税人识别号|统一社会信用代码)\s*[:：]?\s*([0-9A-Z]{15,20})")
_NAME = re.compile(r"名\s*称\s*[:：]\s*([^\s:：]{2,60})")
_TOTAL = re.compile(r"[（(]\s*小\s*写\s*[）)]\s*[¥￥]?\s*(-?[\d,]+\.\d{2})")
_SUMS = re.compile(r"合\s*计\s*[¥￥]?\s*(-?[\d,]+\.\d{2})\s*[¥￥]?\s*(-?[\d,]+\.\d{2}|\*+)")
_WORDS = re.compile(r"([负零壹贰叁肆伍陆柒捌玖拾佰仟万亿圆元角分整]{3,})")
_CLERK = re.compile(r"开\s*票\s*人\s*[:：]\s*([^\s:：]{1,20})")
_REMARK_PEOPLE = re.compile(r"(收款人[:：]\s*[^\s;；]+|复核人?[:：]\s*[^\s;；]+)")
_ORIGINAL = re.compile(r"(?:被红冲蓝字[^\d]{0,20}|原发票号码[:：]?\s*)(\d{20})")
_ORIGINAL_OLD = re.compile(r"对应正数发票代码[:：]?\s*(\d{10,12})\s*号码[:：]?\s*(\d{8})")

logging.getLogger("pypdf").setLevel(logging.ERROR)


def _pdf_text(data: bytes, limits: Limits) -> tuple[str, int]:
    try:
        from pypdf import PdfReader
        from pypdf.errors import FileNotDecryptedError
    except ImportError:  # pragma: no cover - pypdf is a declared dependency
        raise InvoiceFormatError("unsupported_format", detected="PDF（未安装 pypdf）") from None
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise InvoiceFormatError("encrypted_pdf")
            except InvoiceFormatError:
                raise
            except Exception:  # noqa: BLE001 - unsupported crypto, bad keys...
                raise InvoiceFormatError("encrypted_pdf") from None
        pages = len(reader.pages)
        chunks: list[str] = []
        size = 0
        for page in reader.pages[: limits.max_pdf_pages]:
            text = page.extract_text() or ""
            size += len(text)
            chunks.append(text)
            if size > limits.max_pdf_text_chars:
                break
        return "\n".join(chunks)[: limits.max_pdf_text_chars], pages
    except InvoiceFormatError:
        raise
    except FileNotDecryptedError:
        raise InvoiceFormatError("encrypted_pdf") from None
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on hostile input
        raise InvoiceFormatError("pdf_malformed", reason=type(exc).__name__) from None


def read_pdf(data: bytes, limits: Limits) -> InvoiceDocument:
    text, pages = _pdf_text(data, limits)
    d = parse_printed_text(text)
    if "number" not in d.fields:
        raise InvoiceFormatError("not_an_invoice", reason="PDF 中没有找到发票号码")
    warnings = ["该发票来自 PDF 版式文件，字段按票面文字识别，可信度低于 OFD/XML 原件。"]
    kind = d.fields.pop("kind", None)
    if kind is None:
        number = d.fields["number"]
        if "code" in d.fields:
            kind = norm.kind_from_code(d.fields["code"]) or "vat_e_normal"
        else:
            kind = "digital_normal" if len(number) == 20 else "vat_e_normal"
        warnings.append("无法从票面确定发票种类（普票/专票），按普通发票处理。")
    elif "code" not in d.fields and kind.startswith("vat_e") and len(d.fields["number"]) == 20:
        kind = kind.replace("vat_e", "digital")
    return merge([d], source_format="pdf", pages=pages, warnings=warnings, default_kind=kind)


def parse_printed_text(text: str) -> Draft:
    """Recognise invoice fields in the printed text of a PDF (or any page text)."""
    d = Draft(SOURCE)
    flat = text.replace("\r", "\n")
    d.set("kind", norm.kind_from_title(_title(flat)))
    d.set("number", _first(_NUMBER, flat, norm.ident))
    d.set("code", _first(_CODE, flat, norm.ident))
    d.set("issue_date", _first(_DATE, flat, norm.date))
    d.set("check_code", _first(_CHECK, flat, norm.ident))
    d.set("machine_number", _first(_MACHINE, flat, norm.ident))
    tax_ids = [norm.ident(m) for m in _TAX_ID.findall(flat)]
    names = [n for n in (norm.text(m) for m in _NAME.findall(flat)) if n]
    # Both layouts print the buyer block before the seller block.
    if len(tax_ids) >= 2:
        d.set("buyer_tax_id", tax_ids[0])
        d.set("seller_tax_id", tax_ids[1])
    elif len(tax_ids) == 1:
        d.set("seller_tax_id", tax_ids[0])
    if len(names) >= 2:
        d.set("buyer_name", names[0])
        d.set("seller_name", names[1])
    sums = _SUMS.search(flat)
    if sums:
        d.set("amount_excl_tax", norm.amount(sums.group(1)))
        d.set("tax", norm.amount(sums.group(2)))
    d.set("total", _first(_TOTAL, flat, norm.amount))
    d.set("total_in_words", _first(_WORDS, flat, norm.text))
    d.set("clerk", _first(_CLERK, flat, norm.text))
    people = "; ".join(_REMARK_PEOPLE.findall(flat))
    apply_remark_people(d, people or None)
    original = _ORIGINAL.search(flat)
    if original:
        d.set("is_red", True)
        d.set("original_number", original.group(1))
    else:
        old = _ORIGINAL_OLD.search(flat)
        if old:
            d.set("is_red", True)
            d.set("original_number", old.group(2))
            d.extra["original_code"] = old.group(1)
    return d


def _title(text: str) -> str | None:
    match = re.search(r"(电子发票\s*[（(][^）)\n]{1,16}[）)]|\S{0,4}增值税电子(?:普通|专用)发票|铁路电子客票)", text)
    return match.group(1) if match else None


def _first(pattern: re.Pattern[str], text: str, conv: Any) -> Any:
    match = pattern.search(text)
    return conv(match.group(1)) if match else None
