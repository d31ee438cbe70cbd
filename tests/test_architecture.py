"""The direction of dependencies (.importlinter) is checked by import-linter itself,
so that `make test` (and CI) fails on an import that points the wrong way."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is in the test extra: pip install -e '.[test]'"
    run = subprocess.run([lint, "--config", str(ROOT / ".importlinter"), "--no-cache"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "broken" not in run.stdout.lower().split("contracts:")[-1].replace("0 broken", "")


OLD_NAME = re.compile(r"(?<![\w./-])(from[ ]adapters\b|import[ ]adapters\b|adapters\.(?=[a-z_]))")


def test_the_adapters_have_one_name():
    """The adapters/ folder is installed as invoice_archive_adapters; run from the
    checkout it is also importable as `adapters`, which would be a second copy of
    every module (two classes, two registries). No code, setting or document uses that name."""
    text = {".py", ".ini", ".cfg", ".toml", ".md", ".feature", ".yaml"}
    paths = [p for p in ROOT.iterdir() if p.suffix in text or p.name in {"Makefile", ".importlinter"}]
    paths += (ROOT / ".ci").iterdir()
    for folder in ("invoice_archive", "adapters", "tests", "features", "benchmarks", "migrations", "docs"):
        paths += (p for p in (ROOT / folder).rglob("*") if p.suffix in text)
    found = []
    for path in sorted(p for p in paths if p.is_file()):
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if OLD_NAME.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_checkout_folder_refuses_the_old_name():
    """From the repository root (on sys.path for the tests) importing the folder by its
    own name fails loudly instead of loading a second copy of the adapters."""
    run = subprocess.run([sys.executable, "-c", "import invoice_archive_adapters.kingdee\nimport adapters"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "import the adapters as invoice_archive_adapters" in run.stderr, run.stderr
