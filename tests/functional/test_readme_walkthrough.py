"""README's "Walk through the journey with curl", run as it is written.

The shell block is taken from README.md, pointed at the demo configuration
(development.ini, with this test's database, store and key) served on a loopback
port, and run by bash with ``set -e`` from a folder laid out as the project folder
after ``make run`` (var/demo-tokens.txt from ``invoice-archive demo-setup``,
examples/, .venv/bin). A README whose commands do not work fails here: the audit
bundle it downloads must pass ``invoice-archive verify-bundle`` with the published
key, and the archive package ``sha256sum -c``.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.db import PROJECT
from tests.support.server import serve

README = PROJECT / "README.md"
TOOLS = ("bash", "curl", "unzip", "sha256sum", "awk")


def walkthrough() -> str:
    """The first ```sh block under the walk-through heading, verbatim."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Walk through the journey with curl", 1)[1]
    return section.split("```sh\n", 1)[1].split("\n```", 1)[0]


@pytest.fixture
def project_folder(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys) -> Path:
    """A folder as `make run` leaves the project: demo tokens, examples, the venv's scripts."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the README walk-through needs {', '.join(missing)}")
        pytest.skip(f"the README walk-through needs {', '.join(missing)}")
    scripts = Path(sys.executable).parent
    if not (scripts / "invoice-archive").exists():
        pytest.skip(f"no invoice-archive console script beside {sys.executable} (pip install -e .)")
    from invoice_archive.cli import main

    folder = tmp_path / "project"
    (folder / "var").mkdir(parents=True)
    (folder / ".venv").mkdir()
    (folder / ".venv" / "bin").symlink_to(scripts, target_is_directory=True)
    (folder / "examples").symlink_to(PROJECT / "examples", target_is_directory=True)
    monkeypatch.setenv("DATABASE_URL", db_url)
    capsys.readouterr()
    assert main(["-c", str(PROJECT / "development.ini"), "demo-setup"]) == 0
    (folder / "var" / "demo-tokens.txt").write_text(capsys.readouterr().out, encoding="utf-8")
    return folder


def demo_app(db_url: str, tmp_path: Path):
    """development.ini's application, on this test's database, store and signing key."""
    from pyramid.paster import get_appsettings

    from invoice_archive.config import configure

    settings = dict(get_appsettings(str(PROJECT / "development.ini"), name="main"))
    settings.update({"sqlalchemy.url": db_url, "archive.store_url": (tmp_path / "store").as_uri(),
                     "bundle.signing_key": str(tmp_path / "bundle-signing-key.pem"),
                     "bundle.signing_key_generate": "true"})
    return configure(settings).make_wsgi_app()


def test_the_readme_walkthrough_works_as_written(project_folder: Path, db_url: str, tmp_path: Path):
    script = walkthrough()
    assert "http://localhost:6543/api/v1" in script
    with serve(demo_app(db_url, tmp_path)) as url:
        run = subprocess.run(["bash", "-e", "-o", "pipefail", "-c",
                              script.replace("http://localhost:6543", url)],
                             cwd=project_folder, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "LC_ALL": "C.UTF-8"})
    out = run.stdout
    assert run.returncode == 0, f"exit {run.returncode}\n--- stdout\n{out}\n--- stderr\n{run.stderr}"
    # 1. intake, then the same invoice refused
    assert '"number":"24992000000000000001"' in out
    assert '"code":"duplicate_invoice"' in out
    # 4. archived with its 档号
    assert '"archival_code":"Z001-PZ·2024·D30-0007-0001"' in out
    # 5. found by the number written in groups of four
    assert re.search(r'"display_number":"记-0001".*"total":1', out, re.S)
    # 6. the audit bundle (审计包) passes verify-bundle with the published key
    assert "审计包 Z001-PZ·2024·D30-0007-0001: 通过" in out
    assert (project_folder / "bundle-key.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    # 7. the archive package (归档包) is a BagIt bag whose every file checks
    bag = next((project_folder / "archive-package").glob("Z001-*"))
    assert (bag / "bagit.txt").is_file()
    checked = re.findall(r"^(data/\S+): OK$", out, re.M)
    assert any(name.endswith("-01-记账凭证.xml") for name in checked), out
    assert "FAILED" not in out


def test_the_archive_package_is_not_an_audit_bundle_and_verify_bundle_says_so(project_folder: Path, db_url: str,
                                                                               tmp_path: Path):
    """What went wrong before: the archive package handed to verify-bundle. It is refused,
    naming what it is and where the audit bundle is."""
    script = walkthrough().split("# 5.", 1)[0] + (
        'curl -s -o archive-package.zip "$API/archive/items/1/package" -H "Authorization: Bearer $AUD"\n'
        'curl -s -o older-name.zip "$API/archive/items/1/bundle" -H "Authorization: Bearer $AUD"\n'
        'cmp archive-package.zip older-name.zip\n'
        'invoice-archive verify-bundle archive-package.zip || echo "exit $?"\n')
    with serve(demo_app(db_url, tmp_path)) as url:
        run = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script.replace("http://localhost:6543", url)],
                             cwd=project_folder, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "这是归档包" in run.stdout and "/api/v1/vouchers/{id}/bundle" in run.stdout
    assert re.search(r"^exit [12]$", run.stdout, re.M)
