"""The wire format shared by the HTTP adapter and the fake tax platform.

Shaped like the verification APIs of the platforms and their vendors: one JSON
POST per check with 发票代码/号码/日期 and an amount or check code; a result code
``code`` ("0000" = the call worked) and, inside ``data``, the invoice status
and the parties; posting status (入账标识) submitted with an idempotency key.

``POST <url>/api/v1/invoice/check``::

    {"invoice_code": "033002000211" | null, "invoice_number": "83089647",
     "issue_date": "20200723", "amount": "510.68" | null, "amount_type": "excl_tax" | "total" | null,
     "check_code": "507415" | null}

    200 {"code": "0000", "message": "查验成功", "data": {"invoice_status": "0", "invoice_code": ..,
         "invoice_number": .., "issue_date": "20200723", "buyer_name": .., "buyer_tax_id": ..,
         "seller_name": .., "seller_tax_id": .., "amount_excl_tax": "510.68", "tax": "15.32",
         "total": "526.00"}}
    200 {"code": "0009", "message": "查无此票"}              -> not_found
    200 {"code": "0006", "message": "查验信息不一致"}         -> not_found (the query data do not match)
    200 {"code": "0002", "message": "超过该张发票当日查验次数"} -> unavailable (retry tomorrow)
    401 {"code": "4001", ...}                               -> TaxPlatformError auth_failed
    400 {"code": "4000", ...}                               -> TaxPlatformError invalid_query

``POST <url>/api/v1/invoice/posting-status`` (header ``Idempotency-Key``)::

    {"invoice_business_key": .., "status": "02", "purpose": "02", "period": "202406",
     "idempotency_key": ".."}

    200 {"code": "0000", "data": {"accepted": true, "duplicate": false, "receipt_id": ".."}}
    409 {"code": "4009", ...}  the key was used for a different submission
"""
from __future__ import annotations

from invoice_archive.ports.taxplatform import CheckStatus

CHECK_PATH = "/api/v1/invoice/check"
POSTING_PATH = "/api/v1/invoice/posting-status"

OK = "0000"
NOT_FOUND = "0009"
MISMATCH = "0006"
RATE_LIMITED = "0002"
BAD_REQUEST = "4000"
UNAUTHORIZED = "4001"
CONFLICT = "4009"
BUSY = "5000"

#: 发票状态 as the platforms' vendors return it
INVOICE_STATUS: dict[str, CheckStatus] = {
    "0": CheckStatus.NORMAL,
    "2": CheckStatus.VOIDED,
    "3": CheckStatus.RED_REVERSED,  # 已红冲
    "7": CheckStatus.RED_REVERSED,  # 部分红冲
    "8": CheckStatus.RED_REVERSED,  # 全额红冲
}
STATUS_CODES: dict[CheckStatus, str] = {
    CheckStatus.NORMAL: "0",
    CheckStatus.VOIDED: "2",
    CheckStatus.RED_REVERSED: "3",
}
