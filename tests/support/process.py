"""The service and the console script as real processes, for crash tests that
end them with kill -9 (nothing runs at exit: no rollback hook, no cleanup)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

import httpx

from tests.support.clamav import scanner_settings

PROJECT = Path(__file__).resolve().parents[2]
INI = PROJECT / "development.ini"

_SERVE = """
import sys
from pyramid.paster import get_app, setup_logging
from waitress import serve
setup_logging(sys.argv[1])
serve(get_app(sys.argv[1], "main"), host="127.0.0.1", port=int(sys.argv[2]), threads=8)
"""


def environment(db_url: str, store_dir: Path) -> dict[str, str]:
    """The ini file's settings with the test's database and store, and the tests' virus
    scanner (tests/support/clamav.py) where ClamAV is installed."""
    env = {**os.environ, "DATABASE_URL": db_url, "ARCHIVE_STORE_URL": store_dir.as_uri()}
    scanner = scanner_settings(store_dir.parent / "clamav")
    if scanner:
        env["CLAMAV_DATABASE"] = scanner["archive.clamav_database"]
    return env


def start_server(db_url: str, store_dir: Path, port: int) -> subprocess.Popen:
    """pserve's way (the ini file's app, waitress), on a port of the test's."""
    proc = subprocess.Popen([sys.executable, "-c", _SERVE, str(INI), str(port)], cwd=PROJECT,
                            env=environment(db_url, store_dir), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited at start-up ({proc.returncode})")
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.05)
    kill9(proc)
    raise RuntimeError("the service did not start within 60 s")


def start_cli(args: Sequence[str], db_url: str, store_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import sys; from invoice_archive.cli import main; "
                             "sys.exit(main(sys.argv[1:]))", "-c", str(INI), *args],
                            cwd=PROJECT, env=environment(db_url, store_dir), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def kill9(proc: subprocess.Popen) -> int:
    """SIGKILL, then reap; returns the exit status (-9 when it was still running)."""
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return proc.wait(timeout=60)
