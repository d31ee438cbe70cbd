"""The one exception the readers raise.

Every refusal carries a stable snake_case ``code`` (for machines and logs), a
Chinese ``message`` a finance clerk can act on, the HTTP status a web layer
should answer with, and a ``detail`` dict of facts (member name, sizes, ...).
"""
from __future__ import annotations

from typing import Any

# code -> (http_status, Chinese message template). Templates may use keys of
# ``detail`` through str.format_map; missing keys render as "?".
CODES: dict[str, tuple[int, str]] = {
    "empty_file": (400, "文件为空（0 字节），请重新下载或导出发票原文件后再上传。"),
    "too_large": (413, "文件过大（{size} 字节，上限 {limit} 字节），请确认上传的是单张电子发票原文件。"),
    "too_many_members": (413, "OFD 文件内部包含的文件过多（{count} 个，上限 {limit} 个），疑似异常文件，已拒收。"),
    "zip_bomb": (413, "OFD 文件解压后体积异常（{member}），疑似压缩炸弹，已拒收。请向开票方索取原始文件。"),
    "path_traversal": (422, "OFD 文件内部路径不合法（{member}），疑似恶意文件，已拒收。"),
    "encrypted_zip": (422, "OFD 文件被加密，无法读取。请上传未加密的发票原文件。"),
    "truncated_zip": (422, "OFD 文件不完整或已损坏（可能下载中断），请重新下载后上传。"),
    "corrupt_zip": (422, "OFD 文件内容损坏（{member}），无法解压。请重新下载后上传。"),
    "duplicate_member": (422, "OFD 文件内部有重名文件（{member}），内容有歧义，已拒收。"),
    "nested_archive": (422, "OFD 文件内部还嵌套了压缩包（{member}），不符合电子发票格式，已拒收。"),
    "xml_dtd_forbidden": (422, "XML 内容包含 DTD 或实体声明（{member}），出于安全原因拒绝解析。"),
    "xml_malformed": (422, "XML 内容格式错误（{member}），无法解析。请向开票方索取正确的发票文件。"),
    "bad_encoding": (422, "文件文字编码不是 UTF-8（{member}），无法可靠读取。请上传发票原文件。"),
    "ofd_invalid": (422, "OFD 文件结构不完整（{reason}），无法读取。请重新下载发票原文件。"),
    "not_an_invoice": (422, "该文件不是电子发票或电子凭证（{reason}），请上传发票、铁路电子客票或银行电子回单/对账单原文件。"),
    "unsupported_format": (415, "不支持的文件格式（{detected}）。请上传 OFD、XML 或 PDF 格式的电子发票原文件。"),
    "amount_unreadable": (422, "发票{field}的值“{value}”不是有效的金额（应为最多两位小数的十进制数），无法核对和入账。"
                              "请向开票方索取正确的发票文件。"),
    "pdf_malformed": (422, "PDF 文件已损坏或无法解析，请重新下载后上传。"),
    "encrypted_pdf": (422, "PDF 文件被加密，无法读取发票内容。请上传未加密的发票原文件。"),
}


class _Default(dict):
    def __missing__(self, key: str) -> str:  # pragma: no cover - defensive
        return "?"


class InvoiceFormatError(Exception):
    """A file the readers refuse, with a stable code and a Chinese message."""

    def __init__(self, code: str, message: str | None = None, **detail: Any) -> None:
        if code not in CODES:
            raise ValueError(f"unknown InvoiceFormatError code {code!r}")
        status, template = CODES[code]
        self.code = code
        self.http_status = status
        self.detail: dict[str, Any] = detail
        self.message = message or template.format_map(_Default(detail))
        super().__init__(f"{code}: {self.message}")

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "detail": dict(self.detail)}
