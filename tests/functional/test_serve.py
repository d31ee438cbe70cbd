"""``invoice-archive serve``: what waitress itself refuses (a body over its limit, a
request it cannot parse) reaches the caller in the API's error shape, with a code."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import free_port

PROJECT = Path(__file__).resolve().parents[2]
MAIN = "import sys; from invoice_archive.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def served(db_url, tmp_path):
    from alembic import command

    from invoice_archive.cli import alembic_config

    command.upgrade(alembic_config(str(PROJECT / "development.ini"), db_url), "head")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "ARCHIVE_STORE_URL": (tmp_path / "store").as_uri()}
    server = subprocess.Popen(
        [sys.executable, "-c", MAIN, "-c", str(PROJECT / "development.ini"), "serve", "--processes", "1",
         "--listen", f"127.0.0.1:{port}", "--max-request-body-size", "4096"],
        cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "serve.log").open("wb"))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-2000:]
            time.sleep(0.2)
        yield url, port
    finally:
        server.terminate()
        server.wait(30)


def test_a_body_over_the_servers_limit_is_refused_with_a_code(served):
    url, _ = served
    r = httpx.post(f"{url}/api/v1/invoices?filename=big.xml", content=b"<a>" + b" " * 8000 + b"</a>",
                   headers={"Content-Type": "application/xml", "Authorization": "Bearer ia_nobody"})
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/json")
    error = r.json()["error"]
    assert error["code"] == "too_large" and "4096" in error["message"]


def test_a_request_waitress_cannot_parse_is_refused_with_a_code(served):
    _, port = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /api/v1/invoices HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head
    assert b'"code": "bad_request"' in body
