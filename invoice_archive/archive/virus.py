"""Virus scanning through ClamAV (DA/T 70 GD-4-1/4-2), as a plain object.

``ClamAVScanner.scan(files)`` writes the bytes to a private temporary folder
under neutral names (so no file name can confuse the output parser) and runs
``clamscan`` on it, or ``clamdscan`` when a daemon is configured, then maps
each finding back to the file's own name. Exit status 0 = clean, 1 = found,
2 = error (clamscan(1)).

Where ClamAV is absent, or has no signature database, the result is
``not_performed`` with the reason: never "clean". The signature database is a
setting (``archive.clamav_database``: a file or folder given to ``clamscan -d``);
unset, ClamAV's own (``freshclam``'s) database is used.

Debian: ``apt-get install -y clamav`` (clamscan); ``clamav-daemon`` for clamdscan.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from invoice_archive.settings import ClamAVSettings

CLEAN, INFECTED, NOT_PERFORMED, ERROR = "clean", "infected", "not_performed", "error"
# clamscan skips files over its size limits without a word unless told: archive
# packages may be large, so the limits are raised and anything still over them is
# reported as a finding (Heuristics.Limits.Exceeded), not passed silently.
_LIMIT_OPTIONS = ("--max-filesize=2000M", "--max-scansize=4000M", "--alert-exceeds-max=yes",
                  "--alert-encrypted=yes")


@dataclass(frozen=True)
class ScanResult:
    status: str                                   # clean / infected / not_performed / error
    engine: str | None = None                     # "ClamAV 1.4.6 (signatures: ...)"
    infected: tuple[tuple[str, str], ...] = ()    # (file name, signature name)
    reason: str | None = None                     # Chinese, when not clean
    scanned: int = 0

    @property
    def clean(self) -> bool:
        return self.status == CLEAN

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "engine": self.engine, "reason": self.reason, "scanned": self.scanned,
                "infected": [{"file": f, "signature": s} for f, s in self.infected]}


def parse_clamscan_output(text: str, names: Mapping[str, str] | None = None) -> tuple[
        list[tuple[str, str]], list[tuple[str, str]]]:
    """``path: Signature FOUND`` / ``path: reason ERROR`` lines -> (found, errors),
    each a list of (file, text); paths are mapped through ``names`` when given."""
    found, errors = [], []
    for line in text.splitlines():
        line = line.rstrip()
        for suffix, bucket in ((" FOUND", found), (" ERROR", errors)):
            if line.endswith(suffix):
                path, sep, what = line[: -len(suffix)].rpartition(": ")
                if sep:
                    bucket.append(((names or {}).get(path, path), what))
    return found, errors


class ClamAVScanner:
    def __init__(self, database: str | os.PathLike[str] | None = None, *, executable: str | None = None,
                 daemon: bool = False, timeout: float = 600) -> None:
        self.database = Path(database) if database else None
        self.daemon = daemon
        self.executable = executable or ("clamdscan" if daemon else "clamscan")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"ClamAVScanner(database={self.database!s}, executable={self.executable!r})"

    def _command(self) -> str | None:
        return shutil.which(self.executable)

    def available(self) -> tuple[bool, str]:
        """(usable, engine description or the reason it is not)."""
        exe = self._command()
        if exe is None:
            return False, f"未安装 ClamAV（找不到 {self.executable}；Debian：apt-get install -y clamav）"
        if self.database is not None and not self.database.exists():
            return False, f"ClamAV 病毒库不存在：{self.database}"
        try:
            proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"ClamAV 无法运行：{exc}"
        version = proc.stdout.strip() or proc.stderr.strip() or self.executable
        db = f"病毒库 {self.database}" if self.database else "系统病毒库"
        return True, f"{version}（{db}）"

    def scan(self, files: Mapping[str, bytes]) -> ScanResult:
        ok, engine = self.available()
        if not ok:
            return ScanResult(NOT_PERFORMED, None, (), engine)
        exe = self._command()
        assert exe is not None
        with tempfile.TemporaryDirectory(prefix="ia-scan-") as tmp:
            os.chmod(tmp, 0o755)  # clamd runs as its own user and must read the files (with --fdpass too)
            names: dict[str, str] = {}
            for n, (name, data) in enumerate(files.items()):
                path = os.path.join(tmp, f"{n:06d}")
                with open(path, "wb") as fh:
                    fh.write(data)
                os.chmod(path, 0o644)
                names[path] = name
            if self.daemon:
                cmd = [exe, "--no-summary", "--infected", "--fdpass", "--stdout", tmp]
            else:
                cmd = [exe, "--no-summary", "--infected", "--stdout", "--recursive", *_LIMIT_OPTIONS]
                if self.database is not None:
                    cmd.append(f"--database={self.database}")
                cmd.append(tmp)
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout,
                                      check=False)
            except subprocess.TimeoutExpired:
                return ScanResult(ERROR, engine, (), f"病毒扫描超时（{self.timeout} 秒）", len(files))
            except OSError as exc:
                return ScanResult(NOT_PERFORMED, engine, (), f"ClamAV 无法运行：{exc}")
        found, errors = parse_clamscan_output(proc.stdout, names)
        if proc.returncode == 1 or found:
            return ScanResult(INFECTED, engine, tuple(found), "发现病毒", len(files))
        if proc.returncode == 0 and not errors:
            return ScanResult(CLEAN, engine, (), None, len(files))
        message = (proc.stderr.strip() or proc.stdout.strip() or f"退出码 {proc.returncode}")[:500]
        if "database" in message.lower() and ("no supported" in message.lower() or "can't open" in message.lower()
                                              or "load" in message.lower()):
            return ScanResult(NOT_PERFORMED, engine, (), f"ClamAV 没有可用的病毒库：{message}")
        detail = "；".join(f"{f}：{e}" for f, e in errors) or message
        return ScanResult(ERROR, engine, (), f"病毒扫描出错：{detail}", len(files))


def scanner_from_settings(clamav: ClamAVSettings) -> ClamAVScanner:
    """The scanner ``Settings.archive.clamav`` describes: ``archive.clamav_database``
    (signature file or folder), ``archive.clamav_executable``, ``archive.clamav_daemon``
    (true: clamdscan with the daemon's own database), ``archive.clamav_timeout``.
    The service builds it once, at start-up."""
    return ClamAVScanner(clamav.database, executable=clamav.executable, daemon=clamav.daemon,
                         timeout=clamav.timeout)
