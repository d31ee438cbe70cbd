"""``fake-taxplatform``: argparse wiring, script loading, and serving until interrupted."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from invoice_archive_adapters.testing.fakes import taxplatform_cli as cli
from invoice_archive_adapters.taxplatform.http import HttpTaxPlatform
from invoice_archive.ports.taxplatform import CST, CheckQuery, CheckStatus

PROJECT = Path(__file__).resolve().parents[3]
NOW = dt.datetime(2024, 8, 1, 9, 0, tzinfo=CST)


def parse(argv):
    parser = argparse.ArgumentParser(prog="invoice-archive")
    sub = parser.add_subparsers()
    cli.add_parser(sub)
    return parser.parse_args(argv)


def test_add_parser_wires_run():
    args = parse(["fake-taxplatform", "--port", "0", "--script", "x.json"])
    assert args.func is cli.run and args.port == 0 and args.script == "x.json"


def test_bad_script_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"answers": {"1": "exploded"}}', "utf-8")
    assert cli.run(parse(["fake-taxplatform", "--script", str(bad)])) == 2
    assert "exploded" in capsys.readouterr().err
    assert cli.run(parse(["fake-taxplatform", "--script", str(tmp_path / "missing.json")])) == 2


def test_serves_the_script_until_interrupted(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps({
        "invoices": [{"number": "24992000000000000001", "issue_date": "2024-07-15", "total": "1060.00",
                      "buyer_name": "演示科技有限公司", "buyer_tax_id": "91110000DEMO00001X"}],
        "answers": {"24992000000000000002": "voided", "24992000000000000003": {"answer": "red_reversed"}},
    }, ensure_ascii=False), "utf-8")
    code = ("import sys; from invoice_archive_adapters.testing.fakes.taxplatform_cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", code, "--script", str(script)], cwd=PROJECT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(PROJECT)})
    try:
        banner = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in banner, proc.stderr.read() if proc.poll() is not None else banner
        settings = json.loads(proc.stdout.readline())
        assert settings["taxplatform.backend"] == "invoice_archive_adapters.taxplatform.http.HttpTaxPlatform"
        client = HttpTaxPlatform(settings, clock=lambda: NOW)

        def check(number):
            return client.check(CheckQuery(number=number, issue_date=dt.date(2024, 7, 15), total=Decimal("1060.00")))

        known = check("24992000000000000001")
        assert known.status is CheckStatus.NORMAL and known.buyer_name == "演示科技有限公司"
        assert check("24992000000000000002").status is CheckStatus.VOIDED
        assert check("24992000000000000003").status is CheckStatus.RED_REVERSED
        assert proc.poll() is None  # still serving
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
