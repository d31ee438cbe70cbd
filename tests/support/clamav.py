"""The virus scanner the tests archive with: the real ClamAV (clamscan), given a
one-signature database that finds the EICAR test string (the official database
cannot be downloaded here, and this one loads in milliseconds).

Archiving registers an item only when every DA/T 70 check was performed or
waived (docs/archive-waivers.md), so the tests scan for real where ClamAV is
installed (CI installs it). Where it is not, the journey helper records the
archivist's waiver of the two virus checks and says so (tests.support.journey).
"""
from __future__ import annotations

import shutil
from pathlib import Path

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
VIRUS_CHECKS = ("GD-4-1", "GD-4-2")


def clamscan_installed() -> bool:
    return shutil.which("clamscan") is not None


def eicar_database(directory: Path) -> Path:
    """A ClamAV signature database (.ndb) with the EICAR signature alone."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "eicar.ndb"
    path.write_text(f"Invoice-Archive.Test.EICAR:0:*:{EICAR.hex()}\n", encoding="ascii")
    return path


def scanner_settings(directory: Path) -> dict[str, str]:
    """The settings that make the service scan with ClamAV and the EICAR database, or
    none where ClamAV is not installed."""
    return {"archive.clamav_database": str(eicar_database(directory))} if clamscan_installed() else {}


def unavailable_scanner_settings() -> dict[str, str]:
    """A scanner the settings name but the machine cannot run (as when ClamAV is not
    installed): GD-4-1/4-2 are not performed, whether or not ClamAV is on this machine."""
    return {"archive.clamav_executable": "/nonexistent/clamav/clamscan", "archive.clamav_database": ""}
