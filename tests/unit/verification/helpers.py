"""Helpers for the verification tests (open trusted sample files directly)."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path


def read_members(path: Path) -> dict[str, bytes]:
    """An .ofd file, or an unzipped OFD folder zipped on the fly, as members."""
    if path.is_dir():
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(path.rglob("*")):
                if f.is_file():
                    z.write(f, f.relative_to(path).as_posix())
        data = buf.getvalue()
    else:
        data = path.read_bytes()
    return members_of(data)


def members_of(ofd_bytes: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(ofd_bytes)) as z:
        return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}


def failed_codes(report) -> set[str]:
    return {c.code for c in report.checks if c.result == "fail"}
