"""A zip member whose header lies about its size is refused with the same
code by every entry point: the reader, ``inspect``, ``inspect --summary``,
``verify``; and no command prints a traceback for a bad file."""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from invoice_archive.cli import inspect as inspect_cli
from invoice_archive.cli import verify as verify_cli
from invoice_archive.formats import InvoiceFormatError, open_ofd, read_invoice
from invoice_archive.synth.ofd import build_ofd_invoice

from .test_hostile import patch_central_directory

FONT = "Doc_0/Res/font_1.ttf"


def _with_member(ofd: bytes, name: str, data: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(ofd))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        out.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def liars() -> dict[str, bytes]:
    """Two disguises of a font member that inflates to 64 MiB of zeros:
    ``big_stream`` claims 4 KB over ~64 KB of deflate data (impossible: caught
    from the header); ``plausible`` claims as many bytes as it has compressed
    (caught while inflating, only when the member is read)."""
    base = build_ofd_invoice(number="00000077")
    zeros = _with_member(base, FONT, bytes(64 * 1024 * 1024))
    plausible_src = _with_member(base, FONT, bytes(4 * 1024 * 1024))
    csize = next(i.compress_size for i in zipfile.ZipFile(io.BytesIO(plausible_src)).infolist()
                 if i.filename == FONT)
    return {
        "big_stream": patch_central_directory(zeros, FONT.encode(), size=4096),
        "plausible": patch_central_directory(plausible_src, FONT.encode(), size=csize),
    }


def test_a_header_that_cannot_be_true_is_refused_on_opening(liars):
    with pytest.raises(InvoiceFormatError) as info:
        open_ofd(liars["big_stream"])
    assert info.value.code == "zip_bomb" and info.value.http_status == 413


@pytest.mark.parametrize("which", ["big_stream", "plausible"])
def test_the_whole_package_read_refuses_both(liars, which):
    with pytest.raises(InvoiceFormatError) as info:
        read_invoice(liars[which], whole_package=True)
    assert info.value.code == "zip_bomb"
    assert info.value.detail["member"] == FONT


def test_an_honest_package_with_fonts_is_read_whole():
    ofd = _with_member(build_ofd_invoice(number="00000078"), FONT, bytes(300_000))
    assert read_invoice(ofd, whole_package=True).number == "00000078"


def _files(tmp_path: Path, liars: dict[str, bytes]) -> list[Path]:
    paths = []
    for name, data in liars.items():
        p = tmp_path / f"{name}.ofd"
        p.write_bytes(data)
        paths.append(p)
    return paths


def test_inspect_refuses_with_intakes_code(tmp_path, liars):
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(files=[str(p) for p in _files(tmp_path, liars)], json=True)
    assert inspect_cli.run(args, out, err) == 1
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["error"]["code"] for line in lines] == ["zip_bomb", "zip_bomb"]


def test_verify_refuses_with_intakes_code(tmp_path, liars, capsys):
    args = argparse.Namespace(files=[str(p) for p in _files(tmp_path, liars)], json=True,
                              trust_store=None, verbose=False)
    assert verify_cli.run(args) == 2
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["verdict"], line["code"]) for line in lines] == [(None, "zip_bomb")] * 2


def _hostile_folder(tmp_path: Path, liars: dict[str, bytes]) -> Path:
    folder = tmp_path / "2024-05 下载"
    (folder / "sub").mkdir(parents=True)
    _files(folder, liars)
    (folder / "good.ofd").write_bytes(build_ofd_invoice(number="00000079"))
    (folder / "sub" / "empty.xml").write_bytes(b"")
    (folder / "sub" / "truncated.ofd").write_bytes(build_ofd_invoice(number="00000080")[:700])
    (folder / "sub" / "not-xml.xml").write_bytes(b"<a><b></a>")
    (folder / "sub" / "random.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    (folder / "notes.txt").write_text("ignored: not an invoice file type")
    return folder


def test_summary_counts_read_refused_and_verdicts(tmp_path, liars):
    folder = _hostile_folder(tmp_path, liars)
    result = inspect_cli.summarize([str(folder)])
    assert result["files"] == 7
    assert result["read"] == 1 and result["kinds"] == {"vat_e_normal": 1}
    assert result["refused_by_code"]["zip_bomb"] == 2
    assert result["refused_by_code"]["empty_file"] == 1
    assert result["refused_by_code"]["truncated_zip"] == 1
    assert result["refused_by_code"]["xml_malformed"] == 1
    assert result["refused"] == 6
    assert result["verdicts"] == {"not_verified": 6, "unsigned": 1}
    assert {a["file"] for a in result["attention"]} == {
        str(p) for p in folder.rglob("*") if p.is_file() and p.name not in ("good.ofd", "notes.txt")}


def test_summary_command_prints_chinese_counts_and_exit_status(tmp_path, liars):
    folder = _hostile_folder(tmp_path, liars)
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(files=[str(folder)], json=False, summary=True, trust_store=None)
    assert inspect_cli.run(args, out, err) == 1
    text = out.getvalue()
    assert "共 7 个文件：读取 1 个，拒收 6 个" in text
    assert "zip_bomb" in text and "需要处理的文件" in text
    good = tmp_path / "good"
    good.mkdir()
    (good / "a.ofd").write_bytes(build_ofd_invoice(number="00000081"))
    args = argparse.Namespace(files=[str(good)], json=True, summary=True, trust_store=None)
    out = io.StringIO()
    assert inspect_cli.run(args, out, err) == 0
    assert json.loads(out.getvalue())["verdicts"] == {"unsigned": 1}


def test_no_command_prints_a_traceback_for_a_bad_file(tmp_path, liars):
    folder = _hostile_folder(tmp_path, liars)
    files = [str(p) for p in sorted(folder.rglob("*")) if p.is_file()]
    for argv in (["inspect", *files], ["inspect", "--json", *files], ["verify", *files],
                 ["verify", "--json", *files], ["inspect", "--summary", str(folder)]):
        proc = subprocess.run([sys.executable, "-c", _MAIN, *argv],
                              capture_output=True, text=True, timeout=300)
        assert "Traceback" not in proc.stderr + proc.stdout, (argv, proc.stderr[-2000:])
        assert "zip_bomb" in proc.stderr + proc.stdout, argv
        assert proc.returncode in (1, 2), (argv, proc.returncode)


_MAIN = "import sys; from invoice_archive.cli import main; sys.exit(main(sys.argv[1:]))"
