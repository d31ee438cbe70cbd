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

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
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
    """ClamAV, asked about files.

    What it has said is remembered briefly, because archiving asks twice about
    the same bytes: the four-property check of the package as assembled, then of
    the package that carries that check's result in its metadata
    (docs/metadata.md), where only the metadata and the bag's manifests differ.
    The probe (``--version``, which names the signature database's version) is
    kept for ``PROBE_SECONDS``; a file found clean is not scanned again for
    ``CLEAN_SECONDS`` by the same engine, signature database version and
    database file, identified by its SHA-256. Nothing but "clean" is remembered.
    """

    PROBE_SECONDS = 60.0
    CLEAN_SECONDS = 600.0
    CLEAN_ENTRIES = 50_000

    def __init__(self, database: str | os.PathLike[str] | None = None, *, executable: str | None = None,
                 daemon: bool = False, timeout: float = 600) -> None:
        self.database = Path(database) if database else None
        self.daemon = daemon
        self.executable = executable or ("clamdscan" if daemon else "clamscan")
        self.timeout = timeout
        self._lock = threading.Lock()
        self._probe: tuple[float, tuple[bool, str]] | None = None
        self._clean: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self.runs = 0      # scanner processes started (for the tests and the benchmark)

    def __repr__(self) -> str:
        return f"ClamAVScanner(database={self.database!s}, executable={self.executable!r})"

    def _command(self) -> str | None:
        return shutil.which(self.executable)

    def available(self) -> tuple[bool, str]:
        """(usable, engine description or the reason it is not)."""
        now = time.monotonic()
        with self._lock:
            if self._probe is not None and now - self._probe[0] < self.PROBE_SECONDS:
                return self._probe[1]
        found = self._probe_now()
        with self._lock:
            self._probe = (now, found)
        return found

    def _probe_now(self) -> tuple[bool, str]:
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

    def _database_stamp(self) -> str:
        """The given database as it is now (a replaced file or folder is another database)."""
        if self.database is None:
            return ""      # ClamAV's own: its version is in the engine string
        try:
            return str(self.database.stat().st_mtime_ns)
        except OSError:
            return "missing"

    def _known_clean(self, keys: Mapping[str, tuple[str, str, str]]) -> set[str]:
        now = time.monotonic()
        with self._lock:
            return {name for name, key in keys.items()
                    if (seen := self._clean.get(key)) is not None and now - seen < self.CLEAN_SECONDS}

    def _remember_clean(self, keys: Iterable[tuple[str, str, str]]) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._clean[key] = now
                self._clean.move_to_end(key)
            while len(self._clean) > self.CLEAN_ENTRIES:
                self._clean.popitem(last=False)

    def scan(self, files: Mapping[str, bytes]) -> ScanResult:
        ok, engine = self.available()
        if not ok:
            return ScanResult(NOT_PERFORMED, None, (), engine)
        stamp = self._database_stamp()
        keys = {name: (engine, stamp, hashlib.sha256(data).hexdigest()) for name, data in files.items()}
        known = self._known_clean(keys)
        unknown = {name: data for name, data in files.items() if name not in known}
        if not unknown:
            return ScanResult(CLEAN, engine, (), None, len(files))
        result = self._scan_now(unknown, engine)
        if result.status == CLEAN:
            self._remember_clean(keys[name] for name in unknown)
        return replace(result, scanned=len(files)) if result.scanned else result

    def _scan_now(self, files: Mapping[str, bytes], engine: str) -> ScanResult:
        exe = self._command()
        if exe is None:
            return ScanResult(NOT_PERFORMED, None, (), f"未安装 ClamAV（找不到 {self.executable}）")
        self.runs += 1
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
