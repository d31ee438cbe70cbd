"""Yonyou U8 EAI XML adapter."""
from invoice_archive_adapters.u8.adapter import U8EaiAdapter

__all__ = ["U8EaiAdapter"]
