"""Fake accounting systems for tests and demos: small WSGI apps on 127.0.0.1.

    from invoice_archive_adapters.testing.fakes import FakeServer, make_fake
    with FakeServer(make_fake("kingdee")) as server:
        server.url; server.vouchers; server.fail_next("timeout_after_commit")
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

from invoice_archive_adapters.testing.fakes.base import FAILURES, FakeApp, FakeServer, StoredEntry, StoredVoucher

SYSTEMS = {
    "generic_json": "invoice_archive_adapters.testing.fakes.generic_json:GenericJsonFake",
    "kingdee": "invoice_archive_adapters.testing.fakes.kingdee:K3CloudFake",
    "u8": "invoice_archive_adapters.testing.fakes.u8:U8EaiFake",
    "yonsuite": "invoice_archive_adapters.testing.fakes.yonsuite:YonSuiteFake",
}


def make_fake(system: str, **options: Any) -> FakeApp:
    """A fresh fake of ``system`` (one of SYSTEMS)."""
    try:
        module, name = SYSTEMS[system].split(":")
    except KeyError:
        raise ValueError(f"unknown accounting system {system!r}; one of {sorted(SYSTEMS)}") from None
    return getattr(import_module(module), name)(**options)


def serve(system: str, port: int, **options: Any) -> None:
    """Run a fake of ``system`` on 127.0.0.1:``port`` until interrupted."""
    FakeServer(make_fake(system, **options), port).serve_forever()


__all__ = ["FAILURES", "FakeApp", "FakeServer", "SYSTEMS", "StoredEntry", "StoredVoucher", "make_fake", "serve"]
