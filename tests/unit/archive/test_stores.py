"""Both stores pass the same contract; S3 specifics against a real SeaweedFS."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from invoice_archive.archive.s3store import S3Store, StoreError
from invoice_archive.archive.store import FileSystemStore, ObjectExists
from invoice_archive.archive.stores import store_from_url
from invoice_archive.settings import S3Settings, load
from tests.unit.archive.store_contract import StoreContract


def s3(settings):
    """The S3 section the application parses from these settings."""
    return load(settings, environ={}).archive.s3


class TestFileSystemStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        return FileSystemStore(tmp_path / "store")


class TestS3Store(StoreContract):
    @pytest.fixture
    def store(self, seaweed, s3_bucket, s3_prefix):
        return store_from_url(seaweed.url(s3_bucket, f"{s3_prefix}/archive"), s3(seaweed.settings()))


class TestS3StoreWithoutConditionalPut(StoreContract):
    """head-then-put and verify, for servers without If-None-Match."""
    concurrent_writers_are_safe = False

    @pytest.fixture
    def store(self, seaweed, s3_bucket, s3_prefix):
        return store_from_url(seaweed.url(s3_bucket, s3_prefix) + "&conditional=false", s3(seaweed.settings()))


class _ServerStandIn:
    """A real client that counts the requests made through it, in front of a server that
    honours If-None-Match (``condition="honoured"``, SeaweedFS itself), answers it with
    501 (``"refused"``), or ignores it (``"ignored"``: the header never reaches it)."""

    def __init__(self, client, *, condition="honoured"):
        self._client = client
        self.condition = condition
        self.calls: list[str] = []
        self.refused = 0

    def put_object(self, **kw):
        self.calls.append("put")
        if "IfNoneMatch" in kw and self.condition == "refused":
            self.refused += 1
            raise ClientError({"Error": {"Code": "NotImplemented", "Message": "If-None-Match"},
                               "ResponseMetadata": {"HTTPStatusCode": 501}}, "PutObject")
        if self.condition == "ignored":
            kw.pop("IfNoneMatch", None)
        return self._client.put_object(**kw)

    def head_object(self, **kw):
        self.calls.append("head")
        return self._client.head_object(**kw)

    def get_object(self, **kw):
        self.calls.append("get")
        return self._client.get_object(**kw)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_falls_back_when_the_server_lacks_conditional_put(seaweed, s3_bucket, s3_prefix):
    client = _ServerStandIn(seaweed.client(), condition="refused")
    store = S3Store(s3_bucket, f"{s3_prefix}/p", client=client)
    assert store.put("a", b"1") is True
    assert store.put("b", b"2") is True
    assert client.refused == 1                     # remembered after the first refusal
    with pytest.raises(ObjectExists):
        store.put("a", b"other")
    strict = S3Store(s3_bucket, f"{s3_prefix}/q", client=client, conditional="true")
    with pytest.raises(StoreError):
        strict.put("a", b"1")


def test_puts_need_no_head_once_the_server_has_refused_a_conditional_put(seaweed, s3_bucket, s3_prefix):
    client = _ServerStandIn(seaweed.client())
    store = S3Store(s3_bucket, f"{s3_prefix}/proof", client=client)
    assert store.put("a", b"1") is True
    # HEAD (absent), PUT, then the same PUT again, which the server refuses with 412
    assert client.calls == ["head", "put", "put"]
    client.calls.clear()
    assert store.put("b", b"2") is True
    assert client.calls == ["put"]                   # one request per object from now on
    client.calls.clear()
    with pytest.raises(ObjectExists):
        store.put("a", b"other")
    assert client.calls == ["put", "get"]            # refused (412), then compared
    assert store.get("a") == b"1"
    assert store.put("a", b"1") is False
    vouched = S3Store(s3_bucket, f"{s3_prefix}/proof", client=client, conditional="true")
    client.calls.clear()
    assert vouched.put("c", b"3") is True and client.calls == ["put"]


def test_a_server_that_ignores_the_condition_is_found_out(seaweed, s3_bucket, s3_prefix):
    client = _ServerStandIn(seaweed.client(), condition="ignored")
    store = S3Store(s3_bucket, f"{s3_prefix}/ignoring", client=client)
    assert store.put("a", b"1") is True
    assert client.calls == ["head", "put", "put"]   # the second PUT was accepted: found out
    assert store.get("a") == b"1"                   # it rewrote the same bytes
    client.calls.clear()
    with pytest.raises(ObjectExists):
        store.put("a", b"other")
    assert "put" not in client.calls                # HEAD found it: never sent over it
    assert store.get("a") == b"1"
    client.calls.clear()
    assert store.put("b", b"2") is True
    assert client.calls == ["head", "put", "get"]   # head, plain PUT, read-back


def test_prefixes_are_separate(seaweed, s3_bucket, s3_prefix):
    a = store_from_url(seaweed.url(s3_bucket, f"{s3_prefix}/org-a"), s3(seaweed.settings()))
    b = store_from_url(seaweed.url(s3_bucket, f"{s3_prefix}/org-b/deeper"), s3(seaweed.settings()))
    a.put("x", b"a")
    b.put("x", b"b")
    assert list(a.keys()) == ["x"] and list(b.keys()) == ["x"]
    assert a.get("x") == b"a" and b.get("x") == b"b"
    listing = seaweed.client().list_objects_v2(Bucket=s3_bucket, Prefix=f"{s3_prefix}/")
    raw = sorted(o["Key"] for o in listing["Contents"])
    assert raw == [f"{s3_prefix}/org-a/x", f"{s3_prefix}/org-b/deeper/x"]


def test_objects_carry_their_sha256(seaweed, s3_bucket, s3_prefix):
    store = S3Store.from_url(seaweed.url(s3_bucket, s3_prefix), s3(seaweed.settings()))
    store.put("k", b"hello")
    head = seaweed.client().head_object(Bucket=s3_bucket, Key=f"{s3_prefix}/k")
    assert head["Metadata"]["sha256"] == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def test_wrong_credentials_are_refused(seaweed, s3_bucket, s3_prefix):
    store = store_from_url(seaweed.url(s3_bucket, s3_prefix), s3({**seaweed.settings(), "archive.s3.secret_access_key": "wrong"}))
    with pytest.raises(StoreError) as info:
        store.put("k", b"x")
    assert isinstance(info.value, OSError)


def test_unreachable_server_is_an_os_error(tmp_path):
    from tests.support.seaweed import free_ports

    port = free_ports(1)[0]
    store = S3Store("b", endpoint_url=f"http://127.0.0.1:{port}", access_key_id="a", secret_access_key="b",
                    connect_timeout=1, max_attempts=1)
    with pytest.raises(OSError):
        store.get("k")


def test_ensure_bucket(seaweed):
    store = S3Store.from_url(seaweed.url("created-by-store"), s3(seaweed.settings()))
    store.ensure_bucket()
    store.ensure_bucket()
    assert store.put("k", b"v") is True


def test_url_parsing_without_a_server(monkeypatch):
    store = S3Store.from_url("s3://bucket/some/prefix/?endpoint=http://127.0.0.1:8333&region=cn-north-1",
                             s3({"archive.s3.access_key_id": "id", "archive.s3.secret_access_key": "secret"}))
    assert (store.bucket, store.prefix, store.endpoint_url, store.region) == (
        "bucket", "some/prefix/", "http://127.0.0.1:8333", "cn-north-1")
    assert store.url == "s3://bucket/some/prefix?endpoint=http://127.0.0.1:8333&region=cn-north-1"
    assert "secret" not in store.url and "secret" not in repr(store)
    assert S3Store.from_url("s3://bucket").prefix == ""
    with pytest.raises(ValueError, match="credentials"):
        S3Store.from_url("s3://id:secret@bucket/p")
    with pytest.raises(ValueError, match="unknown"):
        S3Store.from_url("s3://bucket/p?endpont=http://x")
    with pytest.raises(ValueError):
        S3Store.from_url("s3:///p")
    with pytest.raises(ValueError):
        S3Store.from_url("s3://bucket/p?conditional=maybe")


def test_credentials_from_env():
    env = {"ARCHIVE_S3_ACCESS_KEY_ID": "id", "ARCHIVE_S3_SECRET_ACCESS_KEY": "s", "OTHER": "x"}
    assert load({}, env).archive.s3 == S3Settings(access_key_id="id", secret_access_key="s")
    # a credential in the ini file wins over the variable
    assert load({"archive.s3.access_key_id": "ini"}, env).archive.s3.access_key_id == "ini"


def test_store_from_url(tmp_path):
    fs = store_from_url((tmp_path / "s").as_uri())
    assert isinstance(fs, FileSystemStore) and fs.root == tmp_path / "s"
    assert isinstance(store_from_url("s3://b/p?endpoint=http://127.0.0.1:1"), S3Store)
    with pytest.raises(ValueError, match="unsupported"):
        store_from_url("ftp://host/x")


def test_seaweed_helper_reports_a_missing_binary(tmp_path):
    from tests.support.seaweed import SeaweedServer, SeaweedUnavailable

    server = SeaweedServer(tmp_path, weed=str(tmp_path / "no-weed-here"))
    with pytest.raises(SeaweedUnavailable, match="cannot run"):
        server.start()
    server.stop()   # nothing started: a no-op


def test_a_temporary_name_left_by_a_killed_writer_is_passed_over(tmp_path, monkeypatch):
    """A process killed mid-write leaves its temporary file; a restarted one (same pid and
    thread in a container, counter from zero) must not trip over it."""
    import itertools
    import os
    import threading

    from invoice_archive.archive import store as store_module

    s = FileSystemStore(tmp_path)
    folder = tmp_path / "originals" / "ab"
    folder.mkdir(parents=True)
    monkeypatch.setattr(store_module, "_TMP_SEQ", itertools.count())
    left = folder / f".tmp-{store_module._TMP_TAG}-{os.getpid()}-{threading.get_ident()}-0"
    left.write_bytes(b"half")
    assert s.put("originals/ab/x.xml", b"<x/>") is True
    assert s.get("originals/ab/x.xml") == b"<x/>" and left.read_bytes() == b"half"
