"""Gap-free per-organisation counters (the row is locked until the transaction ends)."""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from invoice_archive.models import Sequence


def next_value(db: Session, org_id: int, name: str) -> int:
    """Take the next number of a counter. Concurrent transactions queue on the
    counter's row lock, and a rolled back transaction gives its number back."""
    for _ in range(2):
        row = db.execute(
            select(Sequence).where(Sequence.org_id == org_id, Sequence.name == name).with_for_update()
        ).scalar_one_or_none()
        if row is not None:
            db.execute(update(Sequence).where(Sequence.id == row.id).values(value=Sequence.value + 1))
            db.refresh(row)
            return row.value
        try:
            with db.begin_nested():
                db.add(Sequence(org_id=org_id, name=name, value=0))
        except IntegrityError:
            pass  # created concurrently: lock it on the next pass
    raise RuntimeError(f"counter {name} could not be taken")
