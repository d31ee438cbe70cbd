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

from invoice_archive.archive.eep import eep_schema  # noqa: E402

eep_schema()   # DA/T 48 Appendix A's schema ships in the wheel (package data) and compiles
print("check-wheel: the DA/T 48 EEP schema loads from the wheel")
