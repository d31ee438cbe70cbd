"""The console script: migrations, organisations and tokens, on a real database."""
from __future__ import annotations

from pathlib import Path

import pytest

from invoice_archive.cli import main

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("ARCHIVE_STORE_URL", (tmp_path / "store").as_uri())
    return ["-c", str(PROJECT / "development.ini")]


def test_org_and_token_creation(cli_env, capsys):
    assert main([*cli_env, "db", "upgrade"]) == 0
    assert main([*cli_env, "org", "create", "--name", "测试单位", "--tax-id", "91110000TEST0001XY",
                 "--fonds", "z009"]) == 0
    capsys.readouterr()
    assert main([*cli_env, "token", "create", "--org", "91110000TEST0001XY", "--role", "auditor"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("ia_") and len(out[-1]) > 30


def test_token_for_an_unknown_org_fails_clearly(cli_env, capsys):
    assert main([*cli_env, "token", "create", "--org", "NOPE", "--role", "auditor"]) == 2
    assert "org_not_found" in capsys.readouterr().err


def test_demo_setup_is_repeatable(cli_env, capsys):
    assert main([*cli_env, "demo-setup"]) == 0
    assert main([*cli_env, "demo-setup"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert sum(1 for line in lines if line.startswith("finance")) == 2


def test_synth_invoice_writes_a_readable_invoice(tmp_path):
    from invoice_archive.formats import read_invoice

    out = tmp_path / "x.xml"
    assert main(["synth-invoice", "--number", "24992000000000000009", "--out", str(out)]) == 0
    doc = read_invoice(out.read_bytes())
    assert doc.number == "24992000000000000009" and doc.kind == "digital_normal"
