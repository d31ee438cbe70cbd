"""The fake-accounting console command."""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from invoice_archive_adapters.testing.contract import free_port, make_draft
from invoice_archive_adapters.testing.fakes import FakeServer, make_fake
from invoice_archive_adapters.testing.fakes.cli import add_parser, settings_for
from invoice_archive.ports.accounting import Outcome


def test_add_parser_registers_fake_accounting():
    parser = argparse.ArgumentParser(prog="invoice-archive")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["fake-accounting", "--system", "kingdee", "--port", "8765"])
    assert (args.system, args.port) == ("kingdee", 8765)
    assert callable(args.handler)
    with pytest.raises(SystemExit):
        parser.parse_args(["fake-accounting", "--system", "sap"])


@pytest.mark.parametrize("system", ["generic_json", "kingdee", "u8", "yonsuite"])
def test_the_printed_settings_configure_a_working_adapter(system):
    with FakeServer(make_fake(system)) as server:
        settings = settings_for(system, server)
        module, name = settings["accounting.backend"].rsplit(".", 1)
        adapter_class = getattr(importlib.import_module(module), name)
        adapter = adapter_class(settings)
        accounts = (settings["posting.account.expense.travel"], settings["posting.account.input_vat"], "1002")
        assert adapter.post(make_draft(accounts=accounts)).status == Outcome.POSTED
        adapter.close()


def test_the_module_serves_on_loopback_until_interrupted():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "invoice_archive_adapters.testing.fakes", "--system", "generic_json",
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
    try:
        deadline = time.monotonic() + 60   # generous: CI machines can be busy
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/vouchers", timeout=0.5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
                time.sleep(0.1)
        assert response.status_code == 401  # alive, and wants its token
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert f"http://127.0.0.1:{port}" in out
    assert "accounting.token" in out
