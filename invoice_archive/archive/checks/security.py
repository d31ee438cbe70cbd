"""安全性 (security), DA/T 70-2018 items GD-4-*.

DA/T 70-2018 requires at archiving that an electronic record be safe to take
in: checked for viruses in a working anti-virus environment (GD-4-1, then
GD-4-2 for infection), and carrying nothing beyond what it declares (no file
outside the package's manifests, no member path that could escape the
package when unpacked).

Virus scanning goes through the scanner object given to
:func:`~invoice_archive.archive.checks.check_package` (see
:mod:`invoice_archive.archive.virus`); without one GD-4-1 and GD-4-2 are
``not_performed``. The package is scanned once, for both items.
"""
from __future__ import annotations

from typing import Any

from .context import REQUIRED_MANIFESTS, Package
from .registry import FAIL, NOT_PERFORMED, PASS, SECURITY, Outcome, check, listed, outcome

PROPERTY = SECURITY

_NO_SCANNER = "未配置病毒扫描程序"


def _scan(pkg: Package) -> tuple[int, Any]:
    """(files scanned, the scanner's result), scanning the package the first time only."""
    if pkg.virus_scan is None:
        if pkg.error:
            files = {"package.zip": pkg.raw}
        else:
            files = {f"{pkg.top}/{rel}": data for rel, data in pkg.members.items()}
        pkg.virus_scan = (len(files), pkg.scanner.scan(files))   # type: ignore[union-attr]
    return pkg.virus_scan


def _engine(scan: Any) -> str:
    return getattr(scan, "engine", None) or "未知引擎"


@check("GD-4-1", SECURITY, "病毒检测环境（杀毒软件可用）", needs_zip=False)
def gd_4_1_antivirus(pkg: Package) -> Outcome:
    if pkg.scanner is None:
        return NOT_PERFORMED, _NO_SCANNER
    _, scan = _scan(pkg)
    if scan.status == NOT_PERFORMED:
        return NOT_PERFORMED, scan.reason or "病毒扫描程序不可用"
    return PASS, f"杀毒软件可用：{_engine(scan)}"


@check("GD-4-2", SECURITY, "病毒感染检测", needs_zip=False)
def gd_4_2_virus(pkg: Package) -> Outcome:
    if pkg.scanner is None:
        return NOT_PERFORMED, _NO_SCANNER
    scanned, scan = _scan(pkg)
    status = scan.status
    if status == NOT_PERFORMED:
        return NOT_PERFORMED, scan.reason or "病毒扫描程序不可用"
    if status == "clean":
        return PASS, f"{_engine(scan)} 扫描 {scanned} 个文件，未发现病毒"
    if status == "infected":
        found = [f"{path}（{sig}）" for path, sig in scan.infected]
        return FAIL, "发现病毒：" + listed(found)
    return FAIL, f"病毒扫描出错，未能确认安全：{scan.reason}"


@check("GD-4-3", SECURITY, "无多余文件")
def gd_4_3_no_extra_files(pkg: Package) -> Outcome:
    in_manifests: set[str] = set()
    for entries in pkg.manifests.values():
        in_manifests |= set(entries)
    in_tagmanifests: set[str] = set()
    for entries in pkg.tagmanifests.values():
        in_tagmanifests |= set(entries)
    problems = []
    for rel in sorted(pkg.infos):
        if rel.startswith("data/"):
            for alg in REQUIRED_MANIFESTS:
                if rel not in pkg.manifests.get(alg, {}):
                    problems.append(f"{rel} 未列入 manifest-{alg}.txt")
        elif rel.startswith("tagmanifest-"):
            continue
        elif rel not in in_tagmanifests:
            problems.append(f"{rel} 不在任何清单中")
    problems += [s for s in pkg.structure if "路径不安全" in s or "顶层文件夹内" in s]
    return outcome(problems, "包内所有文件均列于清单，无多余文件")
