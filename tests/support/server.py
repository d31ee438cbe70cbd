"""The real app served by waitress on a loopback port, for tests that need real
concurrent HTTP requests (each request its own thread, connection and transaction)."""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import httpx
from waitress.server import create_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(wsgi_app: Any, *, threads: int = 16) -> Iterator[str]:
    port = free_port()
    server = create_server(wsgi_app, host="127.0.0.1", port=port, threads=threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60   # generous: CI machines can be busy
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/api/v1/health", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.close()
        thread.join(timeout=5)
