"""Yonyou U8 EAI XML adapter."""
from adapters.u8.adapter import U8EaiAdapter

__all__ = ["U8EaiAdapter"]
