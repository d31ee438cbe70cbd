"""Which verification outcomes allow an invoice into a reimbursement claim."""
from __future__ import annotations

from dataclasses import dataclass, field

from .report import VERDICTS

UNVERIFIABLE = frozenset({"unsigned", "present_not_verifiable"})
NEVER = frozenset({"tampered", "invalid"})


@dataclass(frozen=True)
class ReimbursementPolicy:
    """``permits(verdict, tax_platform_status)``.

    * ``tampered`` / ``invalid``: never (they cannot be configured in).
    * ``unsigned`` / ``present_not_verifiable`` (national-platform 数电票 are
      unsigned by design): only when the tax platform's 查验 said ``"normal"``,
      unless ``unsigned_requires_tax_check`` is off, in which case listing them
      in ``allowed_verdicts`` is enough.
    * anything else: when listed in ``allowed_verdicts`` (default ``{"valid"}``).
    """

    allowed_verdicts: frozenset = field(default_factory=lambda: frozenset({"valid"}))
    unsigned_requires_tax_check: bool = True

    def __post_init__(self) -> None:
        allowed = frozenset(self.allowed_verdicts)
        unknown = allowed - VERDICTS
        if unknown:
            raise ValueError(f"unknown verdicts in allowed_verdicts: {sorted(unknown)}")
        if allowed & NEVER:
            raise ValueError(f"{sorted(allowed & NEVER)} can never be allowed for reimbursement")
        object.__setattr__(self, "allowed_verdicts", allowed)

    def permits(self, verdict: str, tax_platform_status: str | None) -> bool:
        if verdict in NEVER or verdict not in VERDICTS:
            return False
        if verdict in UNVERIFIABLE:
            if tax_platform_status == "normal":
                return True
            return not self.unsigned_requires_tax_check and verdict in self.allowed_verdicts
        return verdict in self.allowed_verdicts
