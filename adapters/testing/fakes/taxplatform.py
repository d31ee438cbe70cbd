"""A fake tax platform: WSGI on 127.0.0.1 in a background thread, scriptable.

    with FakeTaxPlatform() as fake:
        fake.register(doc.to_dict())                 # a known invoice (answers with its data)
        fake.script("24112000000048542163", "voided")
        fake.script("83089647", "timeout")           # holds the reply past the client's read timeout
        HttpTaxPlatform({"taxplatform.url": fake.url}).check(query)
        fake.postings                                # posting-status submissions, one per idempotency key

Answers per invoice number: ``normal`` (default: echoes the registered or
scripted invoice data, else the query), ``voided``, ``red_reversed``,
``not_found``, ``timeout``, ``unavailable`` (503), ``rate_limited``.
Posting-status submissions are recorded once per idempotency key; a repeat
gets the first receipt back with ``duplicate: true``; the same key with a
different body is refused (409).
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Self

from invoice_archive_adapters.testing.fakes.base import FakeServer
from invoice_archive_adapters.taxplatform import protocol as p
from invoice_archive.ports.taxplatform import CheckStatus, PostingCodes, PostingPurpose

log = logging.getLogger(__name__)

ANSWERS = ("normal", "voided", "red_reversed", "not_found", "timeout", "unavailable", "rate_limited")
POSTING_FAILURES = ("timeout_after_commit", "unavailable", "rejected")
_DATA_FIELDS = ("invoice_code", "invoice_number", "issue_date", "buyer_name", "buyer_tax_id", "seller_name",
                "seller_tax_id", "amount_excl_tax", "tax", "total", "check_code")


@dataclass
class Submission:
    """One posting-status submission the fake accepted."""

    idempotency_key: str
    body: dict[str, Any]
    receipt_id: str
    received_at: dt.datetime
    repeats: int = 0  # how many times the same key came again


@dataclass
class _Scripted:
    answer: str
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None


def _digits_date(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().replace("-", "")
    return text[:8] or None


def invoice_data(doc: Mapping[str, Any] | Any) -> dict[str, Any]:
    """The platform's view of an invoice, from ``InvoiceDocument.to_dict()`` (or the document)."""
    if hasattr(doc, "to_dict"):
        doc = doc.to_dict()
    number = doc.get("number") or doc.get("invoice_number")
    if not number:
        raise ValueError("an invoice to register needs a number")
    return {
        "invoice_code": doc.get("code") or doc.get("invoice_code"),
        "invoice_number": str(number),
        "issue_date": _digits_date(doc.get("issue_date")),
        "buyer_name": doc.get("buyer_name"),
        "buyer_tax_id": doc.get("buyer_tax_id"),
        "seller_name": doc.get("seller_name"),
        "seller_tax_id": doc.get("seller_tax_id"),
        "amount_excl_tax": _str(doc.get("amount_excl_tax")),
        "tax": _str(doc.get("tax")),
        "total": _str(doc.get("total")),
        "check_code": doc.get("check_code"),
    }


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _same_amount(a: Any, b: Any) -> bool:
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except (InvalidOperation, ValueError):
        return False


class FakeTaxPlatform:
    """The fake platform: a WSGI app, its state, and a loopback server around it."""

    #: how long a scripted timeout holds the reply (set above the client's read timeout)
    hang_seconds = 1.0

    def __init__(self, *, port: int = 0, token: str | None = None, codes: PostingCodes | None = None,
                 hang_seconds: float | None = None) -> None:
        self.port_requested = port
        self.token = token
        self.codes = codes or PostingCodes()
        if hang_seconds is not None:
            self.hang_seconds = hang_seconds
        self._lock = threading.RLock()
        self._invoices: dict[str, dict[str, Any]] = {}
        self._scripts: dict[str, _Scripted] = {}
        self._posting_failures: list[str] = []
        self._submissions: dict[str, Submission] = {}
        self._receipts = itertools.count(1)
        self.requests: list[dict[str, Any]] = []
        self._server: FakeServer | None = None

    # -- scripting API ------------------------------------------------------------------
    def register(self, doc: Mapping[str, Any] | Any) -> dict[str, Any]:
        """Make an invoice known (``InvoiceDocument``, its ``to_dict()`` or a dict with
        number, code, issue_date, buyer_*/seller_*, amounts); a check answers with its data."""
        data = invoice_data(doc)
        with self._lock:
            self._invoices[data["invoice_number"]] = data
        return data

    def script(self, number: str, answer: str, *, seconds: float | None = None, **data: Any) -> None:
        """How to answer checks of invoice ``number`` (one of :data:`ANSWERS`) until changed.

        ``data`` (buyer_name=..., total=...) is echoed back with a ``normal``,
        ``voided`` or ``red_reversed`` answer; ``seconds`` overrides the timeout hang."""
        if answer not in ANSWERS:
            raise ValueError(f"unknown answer {answer!r}; one of {ANSWERS}")
        unknown = set(data) - set(_DATA_FIELDS)
        if unknown:
            raise ValueError(f"unknown invoice data {sorted(unknown)}; use {_DATA_FIELDS}")
        with self._lock:
            self._scripts[str(number)] = _Scripted(answer, dict(data), seconds)

    def fail_next_posting(self, kind: str) -> None:
        """The next posting-status submission: ``timeout_after_commit`` (recorded, then
        the reply is held), ``unavailable`` (503, nothing recorded) or ``rejected`` (400)."""
        if kind not in POSTING_FAILURES:
            raise ValueError(f"unknown posting failure {kind!r}; one of {POSTING_FAILURES}")
        with self._lock:
            self._posting_failures.append(kind)

    def load_script(self, spec: Mapping[str, Any]) -> None:
        """Load a JSON script: ``{"invoices": [doc dicts], "answers": {number: answer | {"answer": ..,
        ...data}}, "token": ..}``."""
        unknown = set(spec) - {"invoices", "answers", "token", "hang_seconds"}
        if unknown:
            raise ValueError(f"unknown script keys {sorted(unknown)}; use invoices, answers, token, hang_seconds")
        for doc in spec.get("invoices", ()):
            self.register(doc)
        for number, answer in (spec.get("answers") or {}).items():
            if isinstance(answer, str):
                self.script(number, answer)
            else:
                answer = dict(answer)
                self.script(number, answer.pop("answer", "normal"), seconds=answer.pop("seconds", None), **answer)
        if spec.get("token"):
            self.token = str(spec["token"])
        if spec.get("hang_seconds") is not None:
            self.hang_seconds = float(spec["hang_seconds"])

    def clear(self) -> None:
        with self._lock:
            self._invoices.clear()
            self._scripts.clear()
            self._posting_failures.clear()
            self._submissions.clear()
            self.requests.clear()

    @property
    def postings(self) -> list[Submission]:
        """Every distinct submission (one per idempotency key), oldest first."""
        with self._lock:
            return list(self._submissions.values())

    def posting_state(self, business_key: str) -> str | None:
        """The posting status code the platform holds for an invoice (last submission wins)."""
        with self._lock:
            state = None
            for sub in self._submissions.values():
                if sub.body.get("invoice_business_key") == business_key:
                    state = sub.body.get("status")
            return state

    def checks_of(self, number: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r["path"] == p.CHECK_PATH
                       and (r.get("body") or {}).get("invoice_number") == number)

    # -- server: the same loopback server as the accounting fakes -----------------------
    system = "taxplatform"
    url_path = ""

    def start(self) -> Self:
        self._server = FakeServer(self, self.port_requested).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.port

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return self._server.url

    def serve_forever(self) -> None:
        """Start, then block (for the console command) until interrupted."""
        self.start()
        self.serve_forever_started()

    def serve_forever_started(self) -> None:
        """Block until interrupted (Ctrl-C / SIGINT), then stop."""
        assert self._server is not None, "server not started"
        self._server.serve_forever()
        self._server = None

    # -- WSGI ----------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        body: Any = None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            body = json.loads(raw.decode("utf-8")) if raw else None
        except (ValueError, UnicodeDecodeError):
            return self._reply(start_response, 400, {"code": p.BAD_REQUEST, "message": "请求不是合法的 JSON"})
        with self._lock:
            self.requests.append({"method": method, "path": path, "body": body,
                                  "idempotency_key": environ.get("HTTP_IDEMPOTENCY_KEY")})
        if self.token is not None and environ.get("HTTP_AUTHORIZATION") != f"Bearer {self.token}":
            return self._reply(start_response, 401, {"code": p.UNAUTHORIZED, "message": "身份认证失败"})
        if method != "POST" or path not in (p.CHECK_PATH, p.POSTING_PATH):
            return self._reply(start_response, 404, {"code": "4004", "message": f"no such endpoint {method} {path}"})
        if not isinstance(body, dict):
            return self._reply(start_response, 400, {"code": p.BAD_REQUEST, "message": "请求体必须是 JSON 对象"})
        if path == p.CHECK_PATH:
            return self._check(body, start_response)
        return self._posting(body, environ, start_response)

    def _check(self, body: dict[str, Any], start_response: Callable) -> list[bytes]:
        number = str(body.get("invoice_number") or "")
        if not number or not body.get("issue_date") or not (body.get("amount") or body.get("check_code")):
            return self._reply(start_response, 400, {"code": p.BAD_REQUEST,
                                                     "message": "发票号码、开票日期、金额或校验码缺失"})
        with self._lock:
            scripted = self._scripts.get(number)
            known = self._invoices.get(number)
        answer = scripted.answer if scripted else "normal"  # default: normal, echoing what is known
        if answer == "timeout":
            time.sleep(scripted.seconds if scripted and scripted.seconds is not None else self.hang_seconds)
            return self._reply(start_response, 200, {"code": p.BUSY, "message": "（超时后才到达的答复）"})
        if answer == "unavailable":
            return self._reply(start_response, 503, {"code": p.BUSY, "message": "系统繁忙，请稍后再试"})
        if answer == "rate_limited":
            return self._reply(start_response, 200, {"code": p.RATE_LIMITED, "message": "超过该张发票当日查验次数"})
        if answer == "not_found":
            return self._reply(start_response, 200, {"code": p.NOT_FOUND, "message": "查无此票"})
        if known and not scripted and not self._matches(known, body):
            return self._reply(start_response, 200, {"code": p.MISMATCH, "message": "查验信息不一致"})
        data = {
            "invoice_code": body.get("invoice_code"),
            "invoice_number": number,
            "issue_date": body.get("issue_date"),
        }
        if body.get("amount_type") == "total":
            data["total"] = body.get("amount")
        elif body.get("amount_type") == "excl_tax":
            data["amount_excl_tax"] = body.get("amount")
        if known:
            data.update({k: v for k, v in known.items() if v is not None and k != "check_code"})
        if scripted:
            data.update(scripted.data)
        data["invoice_status"] = p.STATUS_CODES[CheckStatus(answer)]
        return self._reply(start_response, 200, {"code": p.OK, "message": "查验成功", "data": data})

    @staticmethod
    def _matches(known: dict[str, Any], body: dict[str, Any]) -> bool:
        if known.get("issue_date") and body.get("issue_date") != known["issue_date"]:
            return False
        if known.get("invoice_code") and body.get("invoice_code") and body["invoice_code"] != known["invoice_code"]:
            return False
        amount_type = body.get("amount_type")
        if body.get("amount") is not None and amount_type in ("total", "excl_tax"):
            expected = known.get("total" if amount_type == "total" else "amount_excl_tax")
            if expected is not None and not _same_amount(body["amount"], expected):
                return False
        return not (body.get("check_code") and known.get("check_code")
                    and not str(known["check_code"]).endswith(str(body["check_code"])))

    def _posting(self, body: dict[str, Any], environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        key = environ.get("HTTP_IDEMPOTENCY_KEY") or body.get("idempotency_key")
        if not key or body.get("idempotency_key") not in (None, key):
            return self._reply(start_response, 400, {"code": p.BAD_REQUEST, "message": "缺少幂等键或幂等键不一致"})
        problem = self._posting_problem(body)
        with self._lock:
            failure = self._posting_failures.pop(0) if self._posting_failures else None
        if failure == "unavailable":
            return self._reply(start_response, 503, {"code": p.BUSY, "message": "系统繁忙，请稍后再试"})
        if failure == "rejected" or problem:
            return self._reply(start_response, 400, {"code": p.BAD_REQUEST, "message": problem or "入账状态提交被拒绝"})
        with self._lock:
            earlier = self._submissions.get(key)
            if earlier is not None:
                if earlier.body != body | {"idempotency_key": key}:
                    return self._reply(start_response, 409, {"code": p.CONFLICT,
                                                             "message": "该幂等键已用于另一笔不同的提交"})
                earlier.repeats += 1
                sub, duplicate = earlier, True
            else:
                sub = Submission(key, body | {"idempotency_key": key}, f"RZ{next(self._receipts):08d}",
                                 dt.datetime.now(dt.UTC))
                self._submissions[key] = sub
                duplicate = False
        if failure == "timeout_after_commit":
            time.sleep(self.hang_seconds)
        return self._reply(start_response, 200, {"code": p.OK, "message": "已受理", "data": {
            "accepted": True, "duplicate": duplicate, "receipt_id": sub.receipt_id,
            "received_at": sub.received_at.isoformat()}})

    def _posting_problem(self, body: dict[str, Any]) -> str | None:
        if not body.get("invoice_business_key"):
            return "缺少发票号码"
        status, purpose = body.get("status"), body.get("purpose")
        if status not in self.codes.status.values():
            return f"入账状态代码 {status!r} 无效"
        if purpose not in self.codes.purpose.values():
            return f"入账用途代码 {purpose!r} 无效"
        posting = purpose != self.codes.purpose[PostingPurpose.REVOKE]
        period = body.get("period")
        if posting and not (isinstance(period, str) and len(period) == 6 and period.isdigit()
                            and 1 <= int(period[4:]) <= 12):
            return "入账用途为入账时，入账所属期（YYYYMM）必填"
        return None

    @staticmethod
    def _reply(start_response: Callable, status: int, payload: dict[str, Any]) -> list[bytes]:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict",
                  503: "Service Unavailable"}.get(status, "Error")
        start_response(f"{status} {reason}", [("Content-Type", "application/json; charset=utf-8"),
                                              ("Content-Length", str(len(data)))])
        return [data]
