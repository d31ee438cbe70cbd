"""``invoice-archive acceptance`` as an evaluator runs it: a live server (development.ini's
app on this test's database, store and key, served on a loopback port), the demo-setup
tokens as the token file, the command in its own process over HTTP only; then the
report checked offline with ``invoice-archive verify-report`` and the published key."""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from tests.functional.test_readme_walkthrough import demo_app
from tests.support.db import PROJECT
from tests.support.server import serve

CLI = "import sys; from invoice_archive.cli import main; sys.exit(main(sys.argv[1:]))"


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *args], cwd=PROJECT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def tokens(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> Path:
    from invoice_archive.cli import main

    monkeypatch.setenv("DATABASE_URL", db_url)
    capsys.readouterr()
    assert main(["-c", str(PROJECT / "development.ini"), "demo-setup"]) == 0
    path = tmp_path / "tokens.txt"
    path.write_text(capsys.readouterr().out, encoding="utf-8")
    return path


def test_the_command_runs_the_features_over_http_and_the_signed_report_checks(db_url, tmp_path, tokens):
    out = tmp_path / "report"
    with serve(demo_app(db_url, tmp_path)) as url:
        run = cli("acceptance", "--url", url, "--token-file", str(tokens), "--out", str(out),
                  "--only", "journey/", "--only", "没有审计权限", "--only", "税务平台查验为已作废")
        key = httpx.get(f"{url}/api/v1/bundle-key").content
        auditor = next(line.split()[1] for line in tokens.read_text().splitlines() if line.startswith("auditor"))
        logged = httpx.get(f"{url}/api/v1/audit/events", params={"object_type": "report"},
                           headers={"Authorization": f"Bearer {auditor}"}).json()["items"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 个场景：通过 3，跳过 1" in run.stdout, run.stdout
    assert {p.name for p in out.iterdir()} == {"report.html", "cucumber.json", "junit.xml", "results.json",
                                              "SHA256SUMS", "signature.json"}
    results = json.loads((out / "results.json").read_text("utf-8"))
    assert results["deployment"]["profile"] == "development" and results["deployment"]["version"]
    statuses = {s["name"]: s["status"] for s in results["scenarios"]}
    assert statuses["一张电子发票从接收到审计取证"] == "passed"
    assert statuses["税务平台查验为已作废的发票不能报销"] == "skipped"
    journey = next(s for s in results["scenarios"] if s["name"] == "一张电子发票从接收到审计取证")
    evidence = dict(e for st in journey["steps"] for e in st["evidence"])
    assert evidence["档号"].startswith("Z001-PZ·") and len(evidence["归档包 SHA-256"]) == 64
    # the skipped scenario says why, in every format
    cucumber = {e["name"]: e for f in json.loads((out / "cucumber.json").read_text("utf-8")) for e in f["elements"]}
    steps = [st["result"]["status"] for st in cucumber["税务平台查验为已作废的发票不能报销"]["steps"]]
    assert steps == ["passed"] + ["skipped"] * 4, steps   # the background ran; the need was not met
    skipped = [c for c in ET.fromstring((out / "junit.xml").read_bytes()).iter("testcase")
               if c.find("skipped") is not None]
    assert [c.get("name") for c in skipped] == ["税务平台查验为已作废的发票不能报销"]
    assert "被测部署未接入税务平台" in (out / "report.html").read_text("utf-8")
    # the deployment signed it, and said so in its audit log
    digest = json.loads(json.loads((out / "signature.json").read_text("utf-8"))["statement"])["report_sha256"]
    assert [(e["action"], e["object_id"], e["actor"]) for e in logged] == [("acceptance.report_signed", digest,
                                                                            "王审计")]
    (tmp_path / "key.pem").write_bytes(key)
    check = cli("verify-report", str(out), "--public-key", str(tmp_path / "key.pem"))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "部署签名有效" in check.stdout
    # one byte changed: the check fails, naming the file
    page = out / "report.html"
    data = bytearray(page.read_bytes())
    data[len(data) // 2] ^= 0x20
    page.write_bytes(bytes(data))
    check = cli("verify-report", str(out), "--public-key", str(tmp_path / "key.pem"))
    assert check.returncode == 1 and "report.html 的 SHA-256 与 SHA256SUMS 不符" in check.stdout, check.stdout


def test_the_command_refuses_to_start_without_the_auditors_token_or_with_a_wrong_one(db_url, tmp_path, tokens):
    partial = tmp_path / "partial.txt"
    partial.write_text("".join(line + "\n" for line in tokens.read_text().splitlines()
                               if not line.startswith("auditor")), encoding="utf-8")
    with serve(demo_app(db_url, tmp_path)) as url:
        run = cli("acceptance", "--url", url, "--token-file", str(partial), "--out", str(tmp_path / "r"))
        wrong = tmp_path / "wrong.txt"
        finance = next(line.split()[1] for line in tokens.read_text().splitlines() if line.startswith("finance"))
        wrong.write_text(f"auditor={finance}\n", encoding="utf-8")
        swapped = cli("acceptance", "--url", url, "--token-file", str(wrong), "--out", str(tmp_path / "r"))
    assert run.returncode == 2 and "审计人员的令牌" in run.stderr, run.stderr
    assert swapped.returncode == 2 and "应持审计人员令牌" in swapped.stderr, swapped.stderr
    assert not (tmp_path / "r").exists()
