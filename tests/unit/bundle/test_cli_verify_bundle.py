"""``invoice-archive verify-bundle``: exit codes, text and JSON output."""
from __future__ import annotations

import argparse
import json

import pytest

from invoice_archive.bundle import build_bundle, new_signer
from invoice_archive.cli import verify_bundle as cli


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="invoice-archive")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["verify-bundle", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def files(tmp_path_factory, synthetic_parts):
    d = tmp_path_factory.mktemp("cli")
    signer = new_signer("sm2-sm3")
    (d / "bundle.zip").write_bytes(build_bundle(synthetic_parts, signer))
    (d / "key.pem").write_bytes(signer.public_key_pem())
    (d / "other.pem").write_bytes(new_signer("sm2-sm3").public_key_pem())
    from .test_bundle import members_of, rezip

    m = members_of((d / "bundle.zip").read_bytes())
    m["claim/claim.json"] = m["claim/claim.json"].replace(b"BX-2024-0031", b"BX-2024-0032")
    (d / "broken.zip").write_bytes(rezip(m))
    return d


def test_pass_with_the_published_key(files, capsys):
    assert _run([str(files / "bundle.zip"), "--public-key", str(files / "key.pem")]) == 0
    out = capsys.readouterr().out
    assert "通过" in out and "来源" in out


def test_embedded_key_only_exits_3(files, capsys):
    assert _run([str(files / "bundle.zip")]) == 3
    assert "不能证明来源" in capsys.readouterr().out


def test_wrong_key_fails_with_json(files, capsys):
    assert _run([str(files / "bundle.zip"), "--public-key", str(files / "other.pem"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "fail"
    assert any(c["code"] == "signature_valid" and c["result"] == "fail" for c in report["checks"])


def test_tampered_bundle_fails(files, capsys):
    assert _run([str(files / "broken.zip"), "--public-key", str(files / "key.pem")]) == 1
    out = capsys.readouterr().out
    assert "file_sha256 [claim/claim.json]" in out and "未通过" in out


def test_unreadable_inputs_exit_2(files, tmp_path, capsys):
    assert _run([str(tmp_path / "missing.zip")]) == 2
    (tmp_path / "junk.zip").write_bytes(b"junk")
    assert _run([str(tmp_path / "junk.zip")]) == 2
    assert _run([str(files / "bundle.zip"), "--public-key", str(tmp_path / "nope.pem")]) == 2
