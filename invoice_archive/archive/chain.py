"""A hash chain over the audit log (pure: plain dicts in, hex digests out).

Each audit event is serialised canonically and hashed together with the hash
of the event before it, so editing, deleting or reordering any stored event
breaks every later link (DA/T 94 12.3, docs/standards.md: the access log becomes metadata and
must itself be tamper-evident; 财会〔2024〕11号: a queryable operation log).

Canonical form (version 1), stable across databases and Python versions:

* exactly the fields in :data:`FIELDS`; unknown keys are ignored, missing ones
  are an error (``org_id`` may be ``None``);
* ``at`` as an ISO-8601 UTC timestamp with microseconds and a ``Z`` suffix
  (``2024-06-01T08:00:00.000000Z``); a naive time is refused, an aware one in
  another zone is converted, so a database round trip cannot change the hash;
* JSON with sorted keys, no insignificant whitespace, UTF-8 without escaping
  of non-ASCII text (``ensure_ascii=False``);
* no floats anywhere (a float's text form is not canonical across platforms):
  amounts belong in ``detail`` as strings; ``Decimal`` is refused for the same
  reason, so a caller cannot get two encodings of one value.

Why SHA-256: the chain needs collision and second-preimage resistance and must
be re-checkable by an auditor years later with any tool (``sha256sum``,
``openssl dgst``, every language's standard library) without our code or a
GmSSL build; SM3 is not in every OpenSSL, so it stays the extra digest of the
archive packages, where both are written. The hash input is domain-separated
(``invoice-archive/audit-chain/v1``) so a chain hash can never be confused with
the digest of a file, and versioned so the serialisation can evolve.

Limits, stated plainly: a chain proves order and integrity of what is present
from a trusted starting point; cutting events off the *end* is only visible
against a head hash kept elsewhere (pass it as ``expected_head``: e.g. the head
written into each archive package's metadata or a periodic timestamp).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

FIELDS = ("id", "at", "org_id", "actor", "role", "action", "object_type", "object_id", "detail")
GENESIS = "0" * 64
_DOMAIN = b"invoice-archive/audit-chain/v1\n"


class ChainFormatError(ValueError):
    """An event that has no canonical form (missing field, float, naive time ...)."""


def canonical_time(value: dt.datetime | str) -> str:
    """An aware datetime or ISO-8601 string -> ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ChainFormatError(f"事件时间不是 ISO-8601 格式：{value!r}") from None
    if not isinstance(value, dt.datetime):
        raise ChainFormatError(f"事件时间类型不正确：{type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ChainFormatError(f"事件时间缺少时区（须为 UTC）：{value.isoformat()}")
    utc = value.astimezone(dt.UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _plain(value: Any, where: str) -> Any:
    """Check (and copy) a JSON value, refusing anything without one canonical text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        raise ChainFormatError(f"{where} 含浮点数 {value!r}：金额等数值请以字符串记录")
    if isinstance(value, Decimal):
        raise ChainFormatError(f"{where} 含 Decimal {value!r}：请先转为字符串")
    if isinstance(value, (dt.datetime, dt.date)):
        raise ChainFormatError(f"{where} 含日期对象：请先转为 ISO-8601 字符串")
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ChainFormatError(f"{where} 的键 {key!r} 不是字符串")
            out[key] = _plain(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{n}]") for n, item in enumerate(value)]
    raise ChainFormatError(f"{where} 含不可序列化的值：{type(value).__name__}")


def canonical_event(event: Mapping[str, Any]) -> bytes:
    """The canonical bytes of one audit event (see the module docstring)."""
    missing = [f for f in FIELDS if f not in event]
    if missing:
        raise ChainFormatError(f"审计事件缺少字段：{', '.join(missing)}")
    doc: dict[str, Any] = {}
    for field in FIELDS:
        value = event[field]
        if field == "at":
            doc[field] = canonical_time(value)
        elif field == "detail":
            doc[field] = _plain(value if value is not None else {}, "detail")
        else:
            doc[field] = _plain(value, field)
    if isinstance(doc["id"], bool) or not isinstance(doc["id"], int):
        raise ChainFormatError(f"事件编号须为整数：{doc['id']!r}")
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def _check_hash(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ChainFormatError(f"{what} 不是 64 位小写十六进制 SHA-256 值：{value!r}")
    return value


def event_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    """SHA-256 over the domain tag, the previous link's hash and the canonical event.

    The first event of a chain uses :data:`GENESIS` (64 zeros) as ``prev_hash``.
    """
    prev = _check_hash(prev_hash, "前一事件哈希")
    return hashlib.sha256(_DOMAIN + prev.encode("ascii") + b"\n" + canonical_event(event)).hexdigest()


def link(events: Iterable[Mapping[str, Any]], prev_hash: str = GENESIS) -> list[dict[str, Any]]:
    """Copies of ``events`` with ``prev_hash`` and ``hash`` filled in, in order
    (for writing a chain, and for tests)."""
    out = []
    for event in events:
        row = dict(event)
        row["prev_hash"] = prev_hash
        row["hash"] = prev_hash = event_hash(prev_hash, event)
        out.append(row)
    return out


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int                      # events examined (up to and including a broken one)
    head: str                         # hash of the last intact event (start hash if none)
    broken_index: int | None = None   # position in the sequence given
    broken_id: Any = None             # that event's id
    reason: str | None = None         # Chinese, for the auditor

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "head": self.head,
                "broken_index": self.broken_index, "broken_id": self.broken_id, "reason": self.reason}


def verify_chain(events: Iterable[Mapping[str, Any]], *, start_hash: str = GENESIS,
                 expected_head: str | None = None) -> ChainReport:
    """Recompute the chain over stored events (each the event's fields plus the
    stored ``hash`` and, where kept, ``prev_hash``), in stored order (by id).

    Stops at the first broken link and names it: an edited event fails its own
    hash; after a deleted or reordered event the next stored ``prev_hash`` (or,
    without one, its hash) no longer follows from what precedes it.
    ``start_hash`` verifies a segment that begins after a trusted checkpoint;
    ``expected_head`` (a head kept elsewhere) reveals events cut off the end.
    """
    prev = _check_hash(start_hash, "起始哈希")
    last_id: Any = None
    n = -1
    for n, event in enumerate(events):
        ident = event.get("id")

        def broken(reason: str, n: int = n, ident: Any = ident, prev: str = prev) -> ChainReport:
            return ChainReport(False, n + 1, prev, n, ident, reason)

        if last_id is not None and isinstance(ident, int) and isinstance(last_id, int) and ident <= last_id:
            return broken(f"事件 {ident} 排在事件 {last_id} 之后，顺序被打乱")
        stored = event.get("hash")
        if not isinstance(stored, str):
            return broken(f"事件 {ident} 没有存储哈希值")
        if "prev_hash" in event and event["prev_hash"] != prev:
            return broken(f"事件 {ident} 记录的前一哈希与前一事件不符：其前的事件被删除、插入或调换")
        try:
            computed = event_hash(prev, event)
        except ChainFormatError as exc:
            return broken(f"事件 {ident} 无法规范化：{exc}")
        if computed != stored:
            if "prev_hash" in event:
                reason = f"事件 {ident} 的内容与其哈希不符：该事件被修改"
            else:
                reason = f"事件 {ident} 的哈希与链不符：该事件被修改，或其前的事件被删除、插入或调换"
            return broken(reason)
        prev = stored
        last_id = ident
    checked = n + 1
    if expected_head is not None and expected_head != prev:
        return ChainReport(False, checked, prev, None, None,
                           f"链末哈希 {prev[:16]}… 与另行保存的链头 {expected_head[:16]}… 不符：末尾事件缺失或链被替换")
    return ChainReport(True, checked, prev)


# --- signed checkpoints and inclusion --------------------------------------------------
#
# A checkpoint states "organisation O's chain has N events and its head is H at
# time T", signed with the service's bundle key (ed25519 or SM2-with-SM3). An
# event is included in a checkpoint when re-linking the events after it,
# starting from its own hash, reaches the checkpoint's head at the checkpoint's
# number. Checkpoints written elsewhere (sent to an auditor, printed in a
# report) make cutting events off the end visible too.

_CHECKPOINT_DOMAIN = b"invoice-archive/audit-checkpoint/v1\n"
CHECKPOINT_FIELDS = ("org_id", "seq", "hash", "at", "key_id", "algorithm")


def checkpoint_bytes(checkpoint: Mapping[str, Any]) -> bytes:
    """The bytes a checkpoint's signature covers: domain tag + canonical JSON."""
    missing = [f for f in CHECKPOINT_FIELDS if f not in checkpoint]
    if missing:
        raise ChainFormatError(f"检查点缺少字段：{', '.join(missing)}")
    doc = {f: checkpoint[f] for f in CHECKPOINT_FIELDS}
    doc["at"] = canonical_time(doc["at"])
    _check_hash(doc["hash"], "检查点链头哈希")
    if isinstance(doc["seq"], bool) or not isinstance(doc["seq"], int):
        raise ChainFormatError(f"检查点序号须为整数：{doc['seq']!r}")
    return _CHECKPOINT_DOMAIN + json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                                           allow_nan=False).encode("utf-8")


@dataclass(frozen=True)
class InclusionReport:
    ok: bool
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "reason": self.reason}


def verify_inclusion(event: Mapping[str, Any], path: Iterable[Mapping[str, Any]],
                     checkpoint: Mapping[str, Any], *, verify_signature: Any) -> InclusionReport:
    """Is ``event`` (its fields, ``prev_hash`` and ``hash``) in the signed ``checkpoint``?

    ``path`` is the events after it up to the checkpoint's number, in chain
    order; ``verify_signature(data, signature_b64, checkpoint) -> bool`` checks
    the checkpoint's signature with the published key (bundle/signing.py).
    """
    path = list(path)
    try:
        if not verify_signature(checkpoint_bytes(checkpoint), checkpoint.get("signature"), checkpoint):
            return InclusionReport(False, "检查点签名验证失败：检查点不是用该公钥签发的，或已被修改")
        own = event_hash(event["prev_hash"], event)
    except (ChainFormatError, KeyError, TypeError, ValueError) as exc:
        return InclusionReport(False, f"证明格式错误：{exc}")
    if own != event.get("hash"):
        return InclusionReport(False, f"事件 {event.get('id')} 的内容与其哈希不符：该事件被修改")
    if event.get("org_id") != checkpoint.get("org_id"):
        return InclusionReport(False, "事件与检查点不属于同一单位")
    report = verify_chain(path, start_hash=own, expected_head=checkpoint["hash"])
    if not report.ok:
        return InclusionReport(False, f"从事件到检查点的链不完整：{report.reason}")
    last = event["id"]
    for n, step in enumerate(path, 1):
        if step.get("id") != event["id"] + n:
            return InclusionReport(False, f"链上第 {event['id'] + n} 号事件缺失")
        last = step["id"]
    if last != checkpoint["seq"]:
        return InclusionReport(False, f"链止于第 {last} 号事件，检查点是第 {checkpoint['seq']} 号")
    return InclusionReport(True)
