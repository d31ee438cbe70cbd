"""Fixity audits: a flipped byte, a missing object and a truncated one are caught."""
from __future__ import annotations

import hashlib
import tracemalloc

import pytest

from invoice_archive.archive.fixity import (
    MISMATCHED,
    MISSING,
    OK,
    audit_fixity,
    fixity_throughput,
    hash_stream,
    open_stream,
)
from invoice_archive.archive.store import FileSystemStore, TransactionalStore


def _put(store, key: str, data: bytes) -> tuple[str, str, int]:
    store.put(key, data)
    return key, hashlib.sha256(data).hexdigest(), len(data)


@pytest.fixture
def filled(tmp_path):
    store = FileSystemStore(tmp_path / "store")
    expected = [_put(store, f"packages/Z001/2024/item-{n}.zip", bytes([n]) * (1000 + n)) for n in range(5)]
    return store, expected


def test_all_ok(filled):
    store, expected = filled
    seen = []
    report = audit_fixity(store, expected, progress=lambda key, n: seen.append((key, n)))
    assert report.passed and len(report.ok) == 5
    assert report.bytes_read == sum(size for _, _, size in expected)
    assert [k for k, _ in seen] == [k for k, _, _ in expected]
    assert report.to_dict()["passed"] is True and "正常 5" in report.summary()


def test_flipped_byte_is_caught(filled):
    store, expected = filled
    key = expected[2][0]
    path = store.root / key
    data = bytearray(path.read_bytes())
    data[500] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    report = audit_fixity(store, expected)
    assert not report.passed
    assert [r.key for r in report.mismatched] == [key]
    bad = report.mismatched[0]
    assert bad.status == MISMATCHED and bad.actual_size == bad.expected_size and bad.actual_sha256 != bad.expected_sha256
    assert key in report.summary()


def test_missing_and_truncated(filled):
    store, expected = filled
    (store.root / expected[0][0]).unlink()
    (store.root / expected[1][0]).write_bytes(b"\x01" * 10)
    report = audit_fixity(TransactionalStore(store), expected + [("packages/never-stored.zip", "0" * 64, 1)])
    assert [r.key for r in report.missing] == [expected[0][0], "packages/never-stored.zip"]
    assert [r.key for r in report.mismatched] == [expected[1][0]]
    assert {r.status for r in report.results} == {OK, MISSING, MISMATCHED}


def test_size_none_checks_the_digest_only(filled):
    store, expected = filled
    report = audit_fixity(store, [(k, s.upper(), None) for k, s, _ in expected])
    assert report.passed


def test_streaming_keeps_memory_flat(tmp_path):
    store = FileSystemStore(tmp_path)
    big = b"\xab" * (32 * 1024 * 1024)
    expected = [_put(store, "big.bin", big)]
    del big
    tracemalloc.start()
    try:
        report = audit_fixity(store, expected, chunk_size=256 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.passed
    assert peak < 4 * 1024 * 1024, peak


def test_fallback_through_get_for_other_stores():
    class DictStore:
        def __init__(self):
            self.objects = {"a": b"hello"}

        def get(self, key):
            return self.objects[key]

    with open_stream(DictStore(), "a") as fh:
        assert hash_stream(fh) == (hashlib.sha256(b"hello").hexdigest(), 5)
    with pytest.raises(KeyError):
        open_stream(DictStore(), "b")


def test_bad_key_is_refused(filled):
    store, _ = filled
    with pytest.raises(ValueError):
        open_stream(store, "../etc/passwd")


def test_throughput_helper(filled):
    store, expected = filled
    result = fixity_throughput(store, expected, repeat=2)
    assert result["objects"] == 5 and result["passed"] and result["best_mib_per_second"] >= 0


def test_both_recorded_digests_are_checked(filled):
    """The records keep SHA-256 and SM3 (GB/T 32905): each is compared, in one read."""
    from invoice_archive.digests import sm3_hex

    store, expected = filled
    with_sm3 = [(k, s, n, sm3_hex(store.get(k))) for k, s, n in expected]
    assert audit_fixity(store, with_sm3).passed
    wrong = [*with_sm3[:1], (*with_sm3[1][:3], sm3_hex(b"something else")), *with_sm3[2:]]
    report = audit_fixity(store, wrong, workers=4)
    assert [r.key for r in report.mismatched] == [with_sm3[1][0]]
    assert report.mismatched[0].actual_sha256 == report.mismatched[0].expected_sha256
    assert report.mismatched[0].to_dict()["actual_sm3"] == with_sm3[1][3]
