"""Kingdee K/3 Cloud (金蝶云星空) WebAPI adapter."""
from invoice_archive_adapters.kingdee.adapter import K3CloudAdapter

__all__ = ["K3CloudAdapter"]
