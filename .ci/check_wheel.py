"""Run by `make check-wheel` with the python of a fresh venv holding only the wheel,
from a directory outside the checkout: the packages come from that venv, and every
adapter module (the fakes and the contract suite in invoice_archive_adapters.testing
too) imports without the test extra: pytest is not installed there."""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

ADAPTERS = "invoice_archive_adapters"

site = Path(sys.prefix).resolve()
assert importlib.util.find_spec("pytest") is None, "the wheel's venv must not have pytest"
assert importlib.util.find_spec("adapters") is None, "the adapters are installed as invoice_archive_adapters only"
for name in ("invoice_archive", "invoice_archive.migrations", ADAPTERS):
    module = importlib.import_module(name)
    where = Path(module.__file__).resolve()
    assert where.is_relative_to(site), f"{name} comes from {where}, not from the wheel in {site}"

from invoice_archive.cli import migrations_dir  # noqa: E402

assert (migrations_dir() / "env.py").is_file() and any((migrations_dir() / "versions").glob("2*.py"))

package = importlib.import_module(ADAPTERS)
names = [ADAPTERS] + [m.name for m in pkgutil.walk_packages(package.__path__, ADAPTERS + ".")
                      if not m.name.endswith(".__main__")]
for name in names:   # the test doubles in invoice_archive_adapters.testing too: no pytest needed
    importlib.import_module(name)
print(f"check-wheel: {len(names)} adapter modules import from {site}")

# the acceptance command's features and report template ship in the wheel; without the
# acceptance extra (no pytest here) the command says how to get it instead of failing
from importlib.resources import files  # noqa: E402

features = sorted(p.name for p in files("invoice_archive.features").iterdir() if p.is_dir() and p.name != "__pycache__")
assert {"intake", "journey", "archive"} <= set(features), features
assert all(any((files("invoice_archive.features") / f).glob("*.feature")) for f in features), features
assert (files("invoice_archive.acceptance") / "templates" / "report.html.jinja2").is_file()
from invoice_archive.cli import main  # noqa: E402

assert main(["acceptance", "--url", "http://127.0.0.1:9", "--token-file", "/nonexistent"]) == 2
print(f"check-wheel: acceptance features {', '.join(features)} and the report template are in the wheel")

from invoice_archive.archive.eep import eep_schema  # noqa: E402

eep_schema()   # DA/T 48 Appendix A's schema ships in the wheel (package data) and compiles
print("check-wheel: the DA/T 48 EEP schema loads from the wheel")
