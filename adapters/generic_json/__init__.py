"""A generic JSON accounting system: the outbound adapter and the inbound report parser."""
from invoice_archive_adapters.generic_json.adapter import GenericJsonAdapter
from invoice_archive_adapters.generic_json.report import parse_voucher_report

__all__ = ["GenericJsonAdapter", "parse_voucher_report"]
