"""The adapters and their test doubles (invoice_archive_adapters.testing) import without
pytest, which only the test extra installs: a deployment imports them too (the CLI's
fake-accounting and fake-taxplatform)."""
from __future__ import annotations

import subprocess
import sys

CODE = """
import importlib, pkgutil, sys
sys.modules["pytest"] = None   # any `import pytest` now fails
import invoice_archive_adapters as package
names = [m.name for m in pkgutil.walk_packages(package.__path__, "invoice_archive_adapters.")
         if not m.name.endswith(".__main__")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_every_adapter_module_imports_without_pytest():
    run = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) >= 20


def test_the_fakes_and_the_contract_suite_live_in_the_testing_package():
    from invoice_archive_adapters.testing import contract, fakes
    from invoice_archive_adapters.testing.fakes import taxplatform

    assert fakes.FakeServer and taxplatform.FakeTaxPlatform and contract.AccountingSystemContract
