"""An archive store on S3-compatible object storage (AWS S3, SeaweedFS, MinIO, Ceph RGW ...).

Configured from a URL and credentials kept out of it::

    s3://bucket/prefix?endpoint=http://127.0.0.1:8333&region=us-east-1

Query options: ``endpoint`` (omit for AWS), ``region`` (default ``us-east-1``),
``addressing`` (``path``, the default with a custom endpoint, or ``virtual``),
``conditional`` (``auto`` default / ``true`` / ``false``, see below).
Credentials: settings ``archive.s3.access_key_id`` / ``archive.s3.secret_access_key``
(/ ``archive.s3.session_token``, or ``ARCHIVE_S3_*`` environment variables; parsed
into :class:`invoice_archive.settings.S3Settings`), otherwise boto3's own chain
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, profiles, instance roles).

**Never overwrites.** ``put`` writes with a conditional PUT
(``If-None-Match: *``), which the server refuses with 412 when the key exists
(written earlier, or by another writer a moment ago): the stored bytes are then
compared (same bytes: a no-op returning False; different: :class:`ObjectExists`).

In mode ``auto`` the store does not take the condition on trust: a server that
*ignores* ``If-None-Match`` would let a plain PUT replace an archived object.
Until the server has shown that it honours the condition, every ``put`` first
asks whether the key exists (HEAD), and the first object written is then sent a
second time, byte for byte the same, with the condition: a 412 shows the server
honours it, and from then on ``put`` sends no HEAD (one request per object
instead of two). A server that accepts the second PUT ignores the condition (it
rewrote identical bytes, so nothing changed); it is remembered as not
supporting it, like one that answers 501/NotImplemented, and gets HEAD, a plain
PUT and a read-back that verifies the stored bytes are ours. ``conditional=true``
skips the proof (the operator vouches for the server); ``conditional=false``
never sends the condition.

The race, stated plainly: without conditional writes (``conditional=false`` or a
server that lacks them), two writers that both see "absent" between HEAD and PUT
both write, and the last one wins. The read-back makes the loser notice (it
raises ObjectExists), but the winner's object may have replaced the loser's for a
moment. Where that matters, enable bucket versioning and S3 Object Lock (WORM) on
the bucket: then nothing is ever lost, whatever the client does. Keys are unique
per archive item here, so concurrent writers of one key are in practice the same
item retried, i.e. the same bytes.

A retried PUT whose first attempt did land sees 412 and then its own bytes, so it
returns False ("already there") rather than True: the object is then not removed
if the transaction aborts, which leaves a correct but unreferenced object.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlencode, urlparse

from zope.interface import implementer

from invoice_archive.archive.store import DestructionRefused, ObjectExists
from invoice_archive.ports import IArchiveStore

if TYPE_CHECKING:
    from invoice_archive.settings import S3Settings


class StoreError(OSError):
    """The object store could not be reached or refused a request (an OSError, so
    callers that map OSError to "store unavailable" handle it)."""


def _check_key(key: str) -> None:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad store key {key!r}")


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _error_code(exc: Exception) -> tuple[str, int]:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


@implementer(IArchiveStore)
class S3Store:
    """Write-once objects in one bucket, under an optional key prefix."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None, endpoint_url: str | None = None,
                 region: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None, session_token: str | None = None,
                 addressing_style: str | None = None, conditional: str = "auto",
                 connect_timeout: float = 10, read_timeout: float = 60, max_attempts: int = 3,
                 max_pool_connections: int = 32) -> None:
        if not bucket:
            raise ValueError("S3 store needs a bucket: s3://bucket/prefix")
        if conditional not in ("auto", "true", "false"):
            raise ValueError(f"conditional must be auto, true or false, not {conditional!r}")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.region = region or "us-east-1"
        self.conditional = conditional
        self._conditional_supported = conditional != "false"
        # whether the server has refused a conditional PUT of an existing key (412), so
        # that puts need no HEAD first; "true" is the operator's word for it
        self._conditional_proven = conditional == "true"
        query = {"endpoint": endpoint_url, "region": self.region if region else None}
        query_text = urlencode({k: v for k, v in query.items() if v}, safe=":/")
        self.url = f"s3://{bucket}/{quote(self.prefix.rstrip('/'))}" + (f"?{query_text}" if query_text else "")
        if client is None:
            import boto3
            from botocore.config import Config

            style = addressing_style or ("path" if endpoint_url else "auto")
            client = boto3.session.Session().client(
                "s3", endpoint_url=endpoint_url, region_name=self.region, aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key, aws_session_token=session_token,
                config=Config(s3={"addressing_style": style}, connect_timeout=connect_timeout,
                              read_timeout=read_timeout, retries={"max_attempts": max_attempts, "mode": "standard"},
                              # botocore keeps 10 by default: a fixity audit or a threaded service
                              # would open and drop a connection for every request beyond them
                              max_pool_connections=max_pool_connections))
        self.client = client

    def __repr__(self) -> str:
        return f"S3Store({self.url!r})"

    @classmethod
    def from_url(cls, url: str, s3: S3Settings | None = None, **kw: Any) -> S3Store:
        """The store for ``url``; endpoint and region in the URL win over ``s3``'s."""
        parsed = urlparse(url)
        if parsed.scheme != "s3":
            raise ValueError(f"not an s3:// URL: {url}")
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        unknown = set(query) - {"endpoint", "region", "addressing", "conditional"}
        if unknown:
            raise ValueError(f"unknown option(s) in archive store URL: {', '.join(sorted(unknown))}")
        if parsed.username or parsed.password:
            raise ValueError("put S3 credentials in settings or the environment, not in the store URL")
        conditional = query.get("conditional", "auto").lower()
        return cls(
            parsed.netloc, parsed.path,
            endpoint_url=query.get("endpoint") or (s3.endpoint if s3 else None),
            region=query.get("region") or (s3.region if s3 else None),
            access_key_id=s3.access_key_id if s3 else None,
            secret_access_key=s3.secret_access_key if s3 else None,
            session_token=s3.session_token if s3 else None,
            addressing_style=query.get("addressing"), conditional=conditional, **kw,
        )

    # -- helpers ----------------------------------------------------------------------
    def _key(self, key: str) -> str:
        _check_key(key)
        return self.prefix + key

    def _fail(self, action: str, key: str, exc: Exception) -> StoreError:
        return StoreError(f"对象存储 {self.url} {action} {key} 失败：{exc}")

    def _call(self, action: str, key: str, fn: Any, **kw: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kw)
        except ClientError:
            raise
        except BotoCoreError as exc:
            raise self._fail(action, key, exc) from exc

    def _same_or_raise(self, key: str, data: bytes) -> bool:
        try:
            stored = self.get(key)
        except KeyError:
            raise StoreError(f"对象存储 {self.url} 报告 {key} 已存在，却读不到它") from None
        if stored == data:
            return False
        raise ObjectExists(key)

    # -- IArchiveStore ----------------------------------------------------------------
    def put(self, key: str, data: bytes) -> bool:
        full = self._key(key)
        proven = self._conditional_supported and self._conditional_proven
        if not proven and self.exists(key):
            return self._same_or_raise(key, data)
        sha256 = hashlib.sha256(data).hexdigest()
        kw: dict[str, Any] = {"Bucket": self.bucket, "Key": full, "Body": data, "Metadata": {"sha256": sha256}}
        conditional = self._conditional_supported
        if conditional:
            kw["IfNoneMatch"] = "*"
        refused = self._put_object(key, kw)
        if refused == "unsupported":
            return self.put(key, data)
        if refused:
            return self._same_or_raise(key, data)
        if not conditional:
            # head-then-put: read back and make sure the stored object is ours
            self._same_or_raise(key, data)
        elif not proven:
            self._prove_conditional(key, kw)
        return True

    def _put_object(self, key: str, kw: dict[str, Any]) -> bool | str:
        """PUT; True when the condition refused it (the key exists), "unsupported" when
        the server does not do conditional writes (mode auto: remembered), else False."""
        from botocore.exceptions import ClientError

        try:
            self._call("写入", key, self.client.put_object, **kw)
        except ClientError as exc:
            code, status = _error_code(exc)
            if status == 412 or code == "PreconditionFailed":
                return True
            if status == 409 or code == "ConditionalRequestConflict":   # a concurrent conditional write
                return True
            if "IfNoneMatch" in kw and self.conditional == "auto" and (status == 501 or code == "NotImplemented"):
                self._conditional_supported = False
                return "unsupported"
            raise self._fail("写入", key, exc) from exc
        return False

    def _prove_conditional(self, key: str, kw: dict[str, Any]) -> None:
        """Send the object just written again, the same bytes under the same condition:
        a server that honours ``If-None-Match`` refuses it (412), and later puts need
        no HEAD; one that accepts it ignores the condition (and rewrote identical
        bytes), so it is treated as a server without conditional writes."""
        try:
            refused = self._put_object(key, kw)
        except StoreError:
            return                      # not proven this time: the next put asks again
        if refused is True:
            self._conditional_proven = True
        elif refused is False:
            self._conditional_supported = False

    def get(self, key: str) -> bytes:
        with self.open_stream(key) as body:
            return body.read()

    def open_stream(self, key: str) -> IO[bytes]:
        """A streaming body (read in chunks for fixity audits); KeyError when absent."""
        from botocore.exceptions import ClientError

        full = self._key(key)
        try:
            response = self._call("读取", key, self.client.get_object, Bucket=self.bucket, Key=full)
        except ClientError as exc:
            code, status = _error_code(exc)
            if status == 404 or code in ("NoSuchKey", "404", "NotFound"):
                raise KeyError(key) from None
            raise self._fail("读取", key, exc) from exc
        return response["Body"]

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        full = self._key(key)
        try:
            self._call("查询", key, self.client.head_object, Bucket=self.bucket, Key=full)
        except ClientError as exc:
            code, status = _error_code(exc)
            if status == 404 or code in ("NoSuchKey", "404", "NotFound"):
                return False
            raise self._fail("查询", key, exc) from exc
        return True

    def delete_created(self, key: str) -> None:
        from botocore.exceptions import ClientError

        full = self._key(key)
        try:
            self._call("删除", key, self.client.delete_object, Bucket=self.bucket, Key=full)
        except ClientError as exc:
            code, status = _error_code(exc)
            if status == 404 or code in ("NoSuchKey", "404", "NotFound"):
                return
            raise self._fail("删除", key, exc) from exc

    def destroy(self, key: str, sha256: str) -> bool:
        """Remove an archived object for good, only for the destruction of an appraised
        item (docs/disposition.md): the stored bytes must hash to ``sha256``, else
        :class:`DestructionRefused`. True when removed, False when already gone. On a
        bucket with versioning this removes the current version (a delete marker):
        older versions and Object Lock retention are the bucket's policy, which a
        destruction of records cannot override from here."""
        try:
            stream = self.open_stream(key)
        except KeyError:
            return False
        try:
            digest = hashlib.sha256()
            for chunk in iter(lambda: stream.read(1024 * 1024), b""):
                digest.update(chunk)
        finally:
            stream.close()
        if digest.hexdigest() != sha256.lower():
            raise DestructionRefused(key, sha256.lower(), digest.hexdigest())
        self.delete_created(key)
        return True

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under prefix, in the server's order (UTF-8 binary order on S3)."""
        from botocore.exceptions import ClientError

        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for obj in page.get("Contents", ()):
                    yield obj["Key"][len(self.prefix):]
        except ClientError as exc:
            raise self._fail("列出", prefix or "/", exc) from exc

    # -- administration ---------------------------------------------------------------
    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (for development and tests)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError:
            pass
        try:
            self.client.create_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code, _ = _error_code(exc)
            if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise self._fail("创建存储桶", self.bucket, exc) from exc
