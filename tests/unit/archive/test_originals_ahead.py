"""OriginalsAhead: an archive run's originals read ahead from an object store, in the
run's order, at most a window ahead; what the run skips is dropped."""
from __future__ import annotations

import threading

import pytest

from invoice_archive.archive.store import FileSystemStore
from invoice_archive.services.archive import OriginalsAhead


class CountingStore:
    """Objects in memory, counting reads (as an object store's GETs)."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.reads: list[str] = []
        self.lock = threading.Lock()

    def get(self, key: str) -> bytes:
        with self.lock:
            self.reads.append(key)
        return self.objects[key]


def test_read_ahead_in_order_within_the_window():
    store = CountingStore({f"k{n}": bytes([n]) for n in range(50)})
    ahead = OriginalsAhead(store, [f"k{n}" for n in range(50)], window=5, threads=2)
    try:
        assert ahead.get("k0") == b"\x00"
        assert len(ahead.on_the_way) <= 5
        assert [ahead.get(f"k{n}") for n in range(1, 50)] == [bytes([n]) for n in range(1, 50)]
    finally:
        ahead.close()
    assert sorted(store.reads) == sorted(f"k{n}" for n in range(50))     # each read once


def test_a_skipped_key_is_dropped_and_a_missing_one_raises_as_the_store_does():
    store = CountingStore({"a": b"A", "c": b"C"})
    ahead = OriginalsAhead(store, ["a", "b", "c"], window=3, threads=2)
    try:
        assert ahead.get("a") == b"A"
        assert ahead.get("c") == b"C"            # "b" (a voucher the run did not package) is passed by
        with pytest.raises(KeyError):
            ahead.get("b")                       # asked after all: read now, and missing
    finally:
        ahead.close()


def test_a_filesystem_store_is_read_in_turn(tmp_path):
    store = FileSystemStore(tmp_path)
    store.put("x/a", b"A")
    ahead = OriginalsAhead(store, ["x/a"])
    assert ahead.pool is None and ahead.get("x/a") == b"A"
    ahead.close()
