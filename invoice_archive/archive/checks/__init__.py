"""DA/T 70-2018 four-property checks (四性检测) of one archive package (pure).

DA/T 70-2018 checks an electronic record at archiving for four properties, each
in its own module here, with the items numbered as the standard numbers them:

========================  ========  ==================================================================
module                    items     what DA/T 70-2018 asks of the package
========================  ========  ==================================================================
:mod:`.authenticity`      GD-1-*    真实性: fixity information, 档号, file names and sizes, structure
:mod:`.integrity`         GD-2-*    完整性: totals, metadata elements (DA/T 94-2022 Appendix A), 件号
:mod:`.usability`         GD-3-*    可用性: readable metadata, open formats, readable content
:mod:`.security`          GD-4-*    安全性: no viruses, no files beyond the manifests
========================  ========  ==================================================================

Input: the package as stored (a BagIt bag in a zip, as built by
:func:`invoice_archive.archive.package.build_bag`) and what the archive
expects of it, as a plain dict (every key optional, described in
:mod:`.context`; a check whose facts are missing is reported
``not_performed`` with the reason, never passed).

Each GD item is its own function, registered with ``@check(code, property,
name)`` (:mod:`.registry`) as a check that yields a :class:`CheckResult`, so a
result names exactly what was checked; :func:`check_package` runs every registered
item and returns a :class:`FourPropertyReport`. Virus scanning (GD-4-1/4-2)
goes through a scanner object (see :mod:`invoice_archive.archive.virus`);
without one those two items are ``not_performed``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from invoice_archive.digests import sha256_hex

from .context import PackageContents, VirusScanner, expected_from_item, metadata_code, open_package
from .context import package_contents, sniff
from .registry import (AUTHENTICITY, FAIL, INTEGRITY, NOT_PERFORMED, PASS, SECURITY, USABILITY, CheckResult,
                       FourPropertyReport, Waiver, run_checks)

# Importing the property modules registers their checks, in report order.
from . import authenticity, integrity, usability, security  # noqa: F401  isort: skip

# Also importable from here, as before the split (outside __all__, as they were).
from .authenticity import CODE_RE  # noqa: F401
from .context import METADATA_ROOT, REQUIRED_MANIFESTS  # noqa: F401
from .integrity import CODE_ATTRIBUTES, FILE_ATTRIBUTES, REQUIRED_ELEMENTS, REQUIRED_FIELDS  # noqa: F401
from .registry import CHECKS, PROPERTIES, Check, check  # noqa: F401


def check_package(bag_zip: bytes, expected: Mapping[str, Any] | None = None, *,
                  scanner: VirusScanner | None = None, waivers: Iterable[Waiver] = (),
                  memo: dict[Any, Any] | None = None) -> FourPropertyReport:
    """Run every registered four-property check on one archive package. ``waivers``
    (an archivist's, for checks that could not be performed) are attached to the
    report; the package may be registered only when ``report.registrable``. A
    ``memo`` shared by checks of packages that hold the same files spares hashing
    and parsing the same bytes again (see :attr:`.context.Package.memo`)."""
    pkg = open_package(bag_zip, expected or {}, scanner, memo)
    results = run_checks(pkg)
    archival_code = metadata_code(pkg) or (expected or {}).get("archival_code")
    return FourPropertyReport(archival_code, sha256_hex(bag_zip), results).with_waivers(waivers)


def document_number(bag_zip: bytes) -> str | None:
    """The voucher number (文号, e.g. 记-0001) a package's 记账凭证 records, or None."""
    return authenticity.document_number_of(open_package(bag_zip, {}))


__all__ = [
    "AUTHENTICITY", "FAIL", "INTEGRITY", "NOT_PERFORMED", "PASS", "SECURITY", "USABILITY",
    "CheckResult", "FourPropertyReport", "PackageContents", "VirusScanner", "Waiver", "check_package",
    "document_number",
    "expected_from_item",
    "package_contents", "sniff",
]
