"""Gap-free per-organisation counters (the row is locked until the transaction ends),
and the item numbers (件号) they gave a volume."""
from __future__ import annotations

from collections.abc import Sequence as Numbers

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from invoice_archive.models import ArchiveItem, Sequence


def next_value(db: Session, org_id: int, name: str) -> int:
    """Take the next number of a counter: one UPDATE … RETURNING, which takes the
    counter's row lock until the transaction ends. Concurrent transactions queue
    on it (PostgreSQL then re-reads the committed row), and a rolled back
    transaction gives its number back."""
    take = (update(Sequence).where(Sequence.org_id == org_id, Sequence.name == name)
            .values(value=Sequence.value + 1).returning(Sequence.value)
            .execution_options(synchronize_session=False))
    for _ in range(2):
        value = db.execute(take).scalar_one_or_none()
        if value is not None:
            return value
        try:
            with db.begin_nested():
                db.add(Sequence(org_id=org_id, name=name, value=0))
        except IntegrityError:
            pass  # created concurrently: take it on the next pass
    raise RuntimeError(f"counter {name} could not be taken")


def volume_item_numbers(db: Session, org_id: int, class_code: str, volume: int) -> Numbers[int]:
    """The item numbers registered in a class and volume, ascending (what DA/T 70
    GD-2-6 holds a new item against). Archiving asks for them at every item, so
    reading them row by row made a volume's archiving quadratic. Numbers are unique
    in a volume (uq_archive_items_org_class_item): when the smallest is 1 and the
    largest equals the count, they are exactly 1..count, told by one aggregate
    row. Otherwise (a gap, which the check reports) they are read one by one."""
    where = (ArchiveItem.org_id == org_id, ArchiveItem.class_code == class_code, ArchiveItem.volume_no == volume)
    count, low, high = db.execute(select(func.count(), func.min(ArchiveItem.item_no),
                                         func.max(ArchiveItem.item_no)).where(*where)).one()
    if count == 0:
        return []
    if low == 1 and high == count:
        return range(1, count + 1)
    return sorted(db.execute(select(ArchiveItem.item_no).where(*where)).scalars())
