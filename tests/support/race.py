"""Competing requests started together: every thread waits at a barrier, then all
send at once (each on its own connection), so the server sees them interleave."""
from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Callable, Sequence

import httpx


def race(calls: Sequence[Callable[[], Any]], *, timeout: float = 120) -> list[Any]:
    """Run the calls in threads released together by a barrier; their results in order.
    An exception in a call is returned in its place (a test then fails on it)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        barrier.wait(timeout=timeout)
        try:
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - reported to the test as a result
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    return results


def http_race(url: str, requests: Sequence[tuple[str, str, dict[str, str], Any]]) -> list[httpx.Response]:
    """(method, path, headers, json body) per competitor, each on its own client."""
    clients = [httpx.Client(base_url=url, timeout=120) for _ in requests]
    try:
        calls = [lambda c=c, r=r: c.request(r[0], r[1], headers=r[2], json=r[3])
                 for c, r in zip(clients, requests)]
        return race(calls)
    finally:
        for c in clients:
            c.close()


def outcome(responses: Sequence[Any]) -> Counter:
    """status -> count, with the error code of each refusal (e.g. (409, 'claim_state_conflict'))."""
    out: Counter = Counter()
    for r in responses:
        if isinstance(r, Exception):
            out[repr(r)] += 1
        elif r.status_code >= 400:
            out[(r.status_code, r.json()["error"]["code"])] += 1
        else:
            out[r.status_code] += 1
    return out
