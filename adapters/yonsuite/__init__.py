"""Yonyou BIP / YonSuite (用友 BIP 旗舰版) open-platform adapter for general-ledger vouchers."""
from invoice_archive_adapters.yonsuite.adapter import YonSuiteAdapter

__all__ = ["YonSuiteAdapter"]
