"""Helpers shared by the format tests: sample files as bytes (never copied)."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from tests.conftest import SAMPLES


def sample_bytes(samples_dir: Path, name: str) -> bytes:
    """The sample's bytes; a folder (an unzipped OFD) is zipped on the fly."""
    path = samples_dir / name
    if path.is_dir():
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
            for member in sorted(p for p in path.rglob("*") if p.is_file()):
                archive.write(member, member.relative_to(path).as_posix())
        return buf.getvalue()
    return path.read_bytes()


def listed_files() -> list[str]:
    """File names from expected.json, for parametrisation (empty when ../shared is absent)."""
    expected = SAMPLES / "expected.json"
    if not expected.is_file():
        return []
    return [entry["file"] for entry in json.loads(expected.read_text("utf-8"))["samples"]]


def ofd_sample_files() -> list[str]:
    if not SAMPLES.is_dir():
        return []
    names = sorted(p.relative_to(SAMPLES).as_posix() for p in SAMPLES.rglob("*.ofd"))
    names += sorted(
        p.relative_to(SAMPLES).as_posix() + "/" for p in SAMPLES.rglob("*_extracted") if p.is_dir()
    )
    return names
