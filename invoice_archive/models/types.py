"""Column types shared by the models."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from sqlalchemy import JSON, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import mapped_column

from invoice_archive.db import UTCDateTime

#: money: 18 digits, 2 decimals, always Decimal in Python
Money = Numeric(18, 2, asdecimal=True)
#: JSON documents (JSONB on PostgreSQL)
JSONDoc = JSON().with_variant(JSONB(), "postgresql")

money = Annotated[Decimal, mapped_column(Money)]
money_or_none = Annotated[Decimal | None, mapped_column(Money, nullable=True)]
utc = Annotated[Any, mapped_column(UTCDateTime, nullable=False)]
