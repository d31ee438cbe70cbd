"""Resource limits applied to every file before and while it is read."""
from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Caps on hostile input. The defaults fit any real e-invoice with room to spare.

    The largest real invoices seen are multi-page OFDs of a few hundred KiB with
    about 30 members; compressed XML ratios stay below 50.
    """

    max_upload_bytes: int = 20 * MiB
    max_members: int = 2000
    max_total_uncompressed: int = 100 * MiB
    max_member_bytes: int = 20 * MiB
    # A member whose uncompressed size exceeds ``ratio_floor_bytes`` must not
    # inflate more than ``max_ratio`` times its compressed size.
    max_ratio: int = 200
    ratio_floor_bytes: int = 1 * MiB
    max_xml_depth: int = 200
    max_pdf_pages: int = 20
    max_pdf_text_chars: int = 200_000


DEFAULT_LIMITS = Limits()
