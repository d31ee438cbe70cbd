"""``invoice-archive inspect``: called through run() directly."""
from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from invoice_archive.cli import inspect as inspect_cli


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    inspect_cli.add_parser(sub)
    return parser.parse_args(["inspect", *argv])


def call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = parse(argv)
    assert args.func is inspect_cli.run
    status = inspect_cli.run(args, out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def test_json_lines_use_the_expected_json_field_names(samples_dir: Path, expected_samples: list[dict]) -> None:
    entries = [e for e in expected_samples if e.get("kind") and not e["file"].endswith("/")][:5]
    files = [str(samples_dir / e["file"]) for e in entries]
    status, out, err = call([*files, "--json"])
    assert status == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["file"] for r in rows] == files
    for entry, row in zip(entries, rows):
        for key in entry:
            if key in ("file", "signature", "note"):
                continue
            assert {"lines": "line_count"}.get(key, key) in row, key


def test_table_output(samples_dir: Path) -> None:
    status, out, _ = call([str(samples_dir / "xml" / "dzfp_24322000000012345678_special_multiline_synthetic.xml"), "--lines"])
    assert status == 0
    assert "发票号码" in out and "价税合计" in out and "digital_special" in out
    assert out.count("\n  ") >= 10


def test_refused_file_exits_non_zero_with_its_code(samples_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.ofd"
    empty.write_bytes(b"")
    good = samples_dir / "ofdrw" / "converter__1.ofd"
    not_invoice = samples_dir / "ofdrw" / "reader__SESV4SignDoc.ofd"
    status, out, err = call([str(good), str(empty), str(not_invoice)])
    assert status == 1
    assert "empty_file" in err and "not_an_invoice" in err
    assert "033002000211" in out or "发票代码" in out


def test_refused_file_in_json_mode_is_a_json_error_line(tmp_path: Path) -> None:
    bad = tmp_path / "x.xml"
    bad.write_bytes(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><EInvoice/>')
    status, out, err = call([str(bad), "--json"])
    assert status == 1
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["error"]["code"] == "xml_dtd_forbidden"
    assert "xml_dtd_forbidden" in err


def test_missing_file_exits_2(tmp_path: Path) -> None:
    status, _, err = call([str(tmp_path / "nope.ofd")])
    assert status == 2
    assert "unreadable_file" in err


def test_run_defaults_to_the_process_streams(samples_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse([str(samples_dir / "ofdrw" / "converter__1.ofd"), "--json"])
    assert inspect_cli.run(args) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "vat_e_normal"
