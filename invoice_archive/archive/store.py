"""Archive stores behind IArchiveStore, and the transaction glue that removes
objects written by a transaction that then aborted (nothing half-written stays).
"""
from __future__ import annotations

import hashlib
import itertools
import os
import secrets
import threading
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlparse

import transaction
from zope.interface import implementer

from invoice_archive.ports import IArchiveStore

_TMP_SEQ = itertools.count()          # temporary names (FileSystemStore._temporary)
_TMP_TAG = secrets.token_hex(4)       # this run's: a restarted process may get the same pid


class ObjectExists(Exception):
    """A different object already exists under this key: stores never overwrite."""


class DestructionRefused(Exception):
    """The object under this key is not the one a destruction names (its SHA-256
    differs): nothing was removed (docs/disposition.md)."""

    def __init__(self, key: str, expected: str, actual: str) -> None:
        super().__init__(f"{key}: stored SHA-256 {actual}, the destruction list names {expected}")
        self.key, self.expected, self.actual = key, expected, actual


def _check_key(key: str) -> None:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad store key {key!r}")


@implementer(IArchiveStore)
class FileSystemStore:
    """Objects as files under a root directory: written to a temporary name,
    fsynced, then linked into place, so a reader never sees a partial object and
    an existing object is never replaced."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.root_path = os.fspath(self.root)
        self.url = self.root.resolve().as_uri()

    @classmethod
    def from_url(cls, url: str) -> FileSystemStore:
        parsed = urlparse(url)
        return cls(unquote(parsed.netloc + parsed.path))

    def _path(self, key: str) -> Path:
        _check_key(key)
        return self.root / key

    def put(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        fd, tmp = self._temporary(path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)   # atomic, and fails rather than replace
            except FileExistsError:
                if path.read_bytes() == data:
                    return False
                raise ObjectExists(key) from None
            dirfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
            return True
        finally:
            os.unlink(tmp)

    @staticmethod
    def _temporary(folder: Path) -> tuple[int, Path]:
        """A new file beside the object, under a name no other writer uses: this run's
        random tag, the process, the thread and a counter. A name a killed process
        left behind is passed over (O_EXCL); the folder is made on first use."""
        while True:
            tmp = folder / f".tmp-{_TMP_TAG}-{os.getpid()}-{threading.get_ident()}-{next(_TMP_SEQ)}"
            try:
                return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), tmp
            except FileNotFoundError:
                folder.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                continue

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete_created(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    def destroy(self, key: str, sha256: str) -> bool:
        """Remove an archived object for good: the one deliberate deletion of a
        write-once store, called only by the destruction of an appraised item
        (services/disposition.py, docs/disposition.md), after its tombstone is
        committed. The object must still be the bytes the tombstone names
        (``sha256``), else :class:`DestructionRefused` and nothing is removed.
        True when removed, False when it was already gone (a destruction resumed
        after a crash)."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return False
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256.lower():
            raise DestructionRefused(key, sha256.lower(), actual)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        dirfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
        return True

    def keys(self, prefix: str = "") -> Iterator[str]:
        base = self.root
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith(".tmp-"):
                    continue
                key = os.path.relpath(os.path.join(dirpath, name), base).replace(os.sep, "/")
                if key.startswith(prefix):
                    yield key


def store_from_url(url: str) -> Any:
    if url.startswith("file://"):
        return FileSystemStore.from_url(url)
    raise ValueError(f"unsupported archive store URL: {url}")


class _CreatedObjects:
    """A transaction data manager that deletes the objects a transaction created
    in the store if that transaction aborts (objects are written before commit,
    so a committed row never points at a missing object)."""

    transaction_manager: Any

    def __init__(self, store: Any, txn_manager: Any) -> None:
        self.store = store
        self.keys: list[str] = []
        self.transaction_manager = txn_manager

    def _forget(self) -> None:
        for key in self.keys:
            self.store.delete_created(key)
        self.keys = []

    def abort(self, txn: Any) -> None:
        self._forget()

    def tpc_begin(self, txn: Any) -> None:
        pass

    def commit(self, txn: Any) -> None:
        pass

    def tpc_vote(self, txn: Any) -> None:
        pass

    def tpc_finish(self, txn: Any) -> None:
        self.keys = []

    def tpc_abort(self, txn: Any) -> None:
        self._forget()

    def sortKey(self) -> str:  # noqa: N802 (transaction API)
        return "~invoice_archive.store"


def underlying_store(store: Any) -> Any:
    """The store itself, where ``store`` is a request's :class:`TransactionalStore` around it."""
    inner = getattr(store, "store", None)
    return inner if inner is not None and inner is not store else store


class TransactionalStore:
    """The store as seen by one request: writes are undone if the request's
    transaction aborts."""

    def __init__(self, store: Any, txn_manager: Any = None) -> None:
        self.store = store
        self.txn_manager = txn_manager or transaction.manager
        self._dm: _CreatedObjects | None = None
        self._txn: Any = None

    def put(self, key: str, data: bytes) -> bool:
        created = self.store.put(key, data)
        if created:
            txn = self.txn_manager.get()
            if self._dm is None or self._txn is not txn:
                self._dm = _CreatedObjects(self.store, self.txn_manager)
                self._txn = txn
                txn.join(self._dm)
                # before any resource aborts, so before the database releases
                # the rows that make concurrent writers of this key wait
                txn.addBeforeAbortHook(self._dm._forget)
            self._dm.keys.append(key)
        return created

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)
