"""The IArchiveStore contract: one suite every store implementation passes.

Subclass :class:`StoreContract` and provide a ``store`` fixture returning an
empty store (and ``raw_overwrite(store, key, data)`` if the test can tamper with
an object behind the store's back).
"""
from __future__ import annotations

import hashlib
import threading

import pytest
import transaction
from zope.interface.verify import verifyObject

from invoice_archive.archive.fixity import audit_fixity
from invoice_archive.archive.store import DestructionRefused, ObjectExists, TransactionalStore
from invoice_archive.ports import IArchiveStore

CODE_KEY = "packages/Z001/2024/Z001-PZ·2024·D30-0007-0001.zip"


class StoreContract:
    concurrent_writers_are_safe = True

    @pytest.fixture
    def store(self):  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    def test_provides_the_interface(self, store):
        assert verifyObject(IArchiveStore, store)
        assert isinstance(store.url, str) and store.url

    def test_put_then_get(self, store):
        assert store.put(CODE_KEY, b"package bytes") is True
        assert store.get(CODE_KEY) == b"package bytes"
        assert store.exists(CODE_KEY)

    def test_same_bytes_again_is_a_no_op(self, store):
        assert store.put("originals/a.ofd", b"same") is True
        assert store.put("originals/a.ofd", b"same") is False
        assert store.get("originals/a.ofd") == b"same"

    def test_never_overwrites(self, store):
        store.put("originals/a.ofd", b"first")
        with pytest.raises(ObjectExists):
            store.put("originals/a.ofd", b"second")
        assert store.get("originals/a.ofd") == b"first"

    def test_missing_is_key_error(self, store):
        with pytest.raises(KeyError):
            store.get("originals/missing.ofd")
        assert not store.exists("originals/missing.ofd")

    def test_empty_and_binary_objects(self, store):
        blob = bytes(range(256)) * 4096 + b"\x00"
        assert store.put("a/empty", b"") is True
        assert store.put("a/blob", blob) is True
        assert store.get("a/empty") == b""
        assert store.get("a/blob") == blob

    def test_keys_listing(self, store):
        keys = ["packages/Z001/2024/b.zip", "packages/Z001/2023/a.zip", "originals/x.ofd", CODE_KEY]
        for n, key in enumerate(keys):
            store.put(key, f"{n}".encode())
        listed = list(store.keys())
        assert sorted(listed) == sorted(keys)
        assert list(store.keys()) == listed                         # stable order
        assert sorted(store.keys("packages/")) == sorted(k for k in keys if k.startswith("packages/"))
        assert list(store.keys("nothing-here/")) == []

    def test_delete_created(self, store):
        store.put("tmp/x", b"x")
        store.delete_created("tmp/x")
        assert not store.exists("tmp/x")
        store.delete_created("tmp/x")                                # absent: no error

    def test_destroy_removes_only_the_object_the_tombstone_names(self, store):
        """The one deliberate deletion (docs/disposition.md): the bytes must still be the ones
        the destruction list names; again after a crash, an object already gone is no error."""
        data = b"an archived package"
        store.put(CODE_KEY, data)
        with pytest.raises(DestructionRefused):
            store.destroy(CODE_KEY, hashlib.sha256(b"something else").hexdigest())
        assert store.get(CODE_KEY) == data                             # nothing removed
        assert store.destroy(CODE_KEY, hashlib.sha256(data).hexdigest().upper()) is True
        assert not store.exists(CODE_KEY)
        with pytest.raises(KeyError):
            store.get(CODE_KEY)
        assert store.destroy(CODE_KEY, hashlib.sha256(data).hexdigest()) is False
        assert CODE_KEY not in list(store.keys())

    @pytest.mark.parametrize("key", ["", "/abs", "../up", "a/../b", "a//b", "a/./b"])
    def test_bad_keys_are_refused(self, store, key):
        with pytest.raises(ValueError):
            store.put(key, b"x")

    def test_aborted_transaction_removes_what_it_created(self, store):
        store.put("kept", b"old")
        manager = transaction.TransactionManager()
        txn_store = TransactionalStore(store, manager)
        manager.begin()
        assert txn_store.put("new", b"new") is True
        assert txn_store.put("kept", b"old") is False
        manager.abort()
        assert not store.exists("new")
        assert store.get("kept") == b"old"

    def test_fixity_audit_reads_every_object(self, store):
        objects = {f"packages/{n}.zip": bytes([n]) * (1000 * n + 1) for n in range(4)}
        for key, data in objects.items():
            store.put(key, data)
        expected = [(k, hashlib.sha256(d).hexdigest(), len(d)) for k, d in objects.items()]
        report = audit_fixity(store, expected + [("packages/gone.zip", "0" * 64, 1)])
        assert len(report.ok) == 4 and [r.key for r in report.missing] == ["packages/gone.zip"]

    def test_fixity_audit_with_workers_gives_the_same_report_in_order(self, store):
        objects = {f"packages/w{n}.zip": bytes([n]) * (3000 * n + 7) for n in range(24)}
        for key, data in objects.items():
            store.put(key, data)
        expected = [(k, hashlib.sha256(d).hexdigest(), len(d)) for k, d in objects.items()]
        expected[5] = (expected[5][0], "f" * 64, expected[5][2])                 # a changed object
        expected.insert(9, ("packages/gone.zip", "0" * 64, 1))                   # a lost one
        seen: list[str] = []
        one = audit_fixity(store, expected)
        many = audit_fixity(store, expected, workers=8, progress=lambda key, n: seen.append(key))
        assert [(r.key, r.status, r.actual_sha256) for r in many.results] == \
            [(r.key, r.status, r.actual_sha256) for r in one.results]
        assert seen == [k for k, _, _ in expected]
        assert [r.key for r in many.mismatched] == [expected[5][0]]
        assert [r.key for r in many.missing] == ["packages/gone.zip"]
        assert many.bytes_read == one.bytes_read

    def test_concurrent_writers_one_wins(self, store):
        if not self.concurrent_writers_are_safe:
            pytest.skip("this configuration documents a race between HEAD and PUT")
        results: list[object] = [None] * 8
        barrier = threading.Barrier(8)

        def write(n: int) -> None:
            barrier.wait()
            try:
                results[n] = store.put("race/key", f"writer {n}".encode())
            except ObjectExists:
                results[n] = "exists"

        threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count(True) == 1 and results.count("exists") == 7, results
        winner = results.index(True)
        assert store.get("race/key") == f"writer {winner}".encode()
