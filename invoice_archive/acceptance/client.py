"""The acceptance steps' one way into a deployment: HTTP.

:class:`Client` is all the steps know: ``request()`` (one HTTP exchange),
``session()`` (a client with its own cookie jar, for the auditors' pages) and
``race()`` (requests released together, each on its own connection). Two
implementations: :class:`HttpClient` (httpx, against any URL) here, and the
in-process one of the test suite (WebTest on the app, tests/acceptance/conftest.py),
which races through a loopback server and this same :class:`HttpClient`.
"""
from __future__ import annotations

import json as _json
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence
from urllib.parse import urlencode

import httpx


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)   # names in lower case

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def json(self) -> Any:
        return _json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Request:
    """One request of a race."""

    method: str
    path: str
    token: str | None = None
    json: Any = None


class Client(Protocol):
    def request(self, method: str, path: str, *, token: str | None = None, json: Any = None,
                body: bytes | None = None, content_type: str | None = None,
                params: Mapping[str, Any] | None = None, form: Mapping[str, str] | None = None,
                headers: Mapping[str, str] | None = None) -> Response:
        """One exchange; never raises for a status (the step judges it). Redirects are not followed."""

    def session(self) -> Client:
        """A client of the same deployment with its own (empty) cookie jar."""

    def race(self, requests: Sequence[Request]) -> list[Response]:
        """Send every request at once, each on its own connection, released together."""

    @property
    def base_url(self) -> str:
        """Where the deployment answers (the report states it)."""


def encode(*, json: Any = None, body: bytes | None = None, content_type: str | None = None,
           form: Mapping[str, str] | None = None) -> tuple[bytes | None, str | None]:
    """The body and its content type, as both clients send them."""
    if json is not None:
        return _json.dumps(json, ensure_ascii=False).encode("utf-8"), "application/json"
    if form is not None:
        return urlencode(form).encode("ascii"), "application/x-www-form-urlencoded"
    return body, content_type if body is not None else None


def _headers(token: str | None, content_type: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    headers = dict(extra or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if content_type:
        headers["Content-Type"] = content_type
    return headers


class HttpClient:
    """A deployment at a URL (``https://host``, or ``http://127.0.0.1:6543``)."""

    def __init__(self, base_url: str, *, timeout: float = 120.0, verify: bool | str = True) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = timeout
        self._verify = verify
        self._http = httpx.Client(base_url=self._base, timeout=timeout, verify=verify, follow_redirects=False)

    @property
    def base_url(self) -> str:
        return self._base

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, token: str | None = None, json: Any = None,
                body: bytes | None = None, content_type: str | None = None,
                params: Mapping[str, Any] | None = None, form: Mapping[str, str] | None = None,
                headers: Mapping[str, str] | None = None) -> Response:
        content, ctype = encode(json=json, body=body, content_type=content_type, form=form)
        r = self._http.request(method, path, content=content, params=params,
                               headers=_headers(token, ctype, headers))
        return Response(r.status_code, r.content, {k.lower(): v for k, v in r.headers.items()})

    def session(self) -> HttpClient:
        return HttpClient(self._base, timeout=self._timeout, verify=self._verify)

    def race(self, requests: Sequence[Request]) -> list[Response]:
        barrier = threading.Barrier(len(requests))
        results: list[Response | BaseException | None] = [None] * len(requests)

        def one(i: int, req: Request) -> None:
            with httpx.Client(base_url=self._base, timeout=self._timeout, verify=self._verify) as http:
                content, ctype = encode(json=req.json if req.json is not None else {})
                built = http.build_request(req.method, req.path, content=content,
                                           headers=_headers(req.token, ctype, None))
                try:
                    barrier.wait(timeout=60)
                    r = http.send(built)
                    results[i] = Response(r.status_code, r.content, {k.lower(): v for k, v in r.headers.items()})
                except BaseException as exc:   # reported below, in the caller's thread
                    results[i] = exc

        threads = [threading.Thread(target=one, args=(i, r), daemon=True) for i, r in enumerate(requests)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        for r in results:
            if isinstance(r, BaseException):
                raise r
        return [r for r in results if isinstance(r, Response)]


__all__ = ["Client", "HttpClient", "Request", "Response", "encode"]
