"""The direction of dependencies (.importlinter) is checked by import-linter itself,
so that `make test` (and CI) fails on an import that points the wrong way."""
from __future__ import annotations

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
