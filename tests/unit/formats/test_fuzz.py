"""Mutated real samples: the readers return a document or refuse with a code, nothing else.

Byte flips and truncation of whole files, and member-level mutations of the
XML inside OFD packages (re-zipped so that the XML readers, not only the zip
checks, see the damage). The default run is a few thousand cases; set
INVOICE_FUZZ_LONG=1 (and select ``-m slow``) for a long run.
"""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invoice_archive.formats import (
    CODES,
    InvoiceDocument,
    InvoiceFormatError,
    read_invoice,
)
from tests.conftest import SAMPLES

from ._samples import ofd_sample_files, sample_bytes

FAST = {"deadline": None, "suppress_health_check": list(HealthCheck), "database": None}
LONG = os.environ.get("INVOICE_FUZZ_LONG") == "1"


def _load() -> list[tuple[str, bytes]]:
    if not (SAMPLES / "expected.json").is_file():
        return []
    files = ofd_sample_files() + sorted(p.relative_to(SAMPLES).as_posix() for p in (SAMPLES / "xml").glob("*.xml"))
    return [(name, sample_bytes(SAMPLES, name)) for name in files]


CORPUS = _load()
needs_samples = pytest.mark.skipif(not CORPUS, reason="real sample invoices not found (../shared is absent)")

NASTY = [
    b"<!DOCTYPE x [<!ENTITY e 'e'>]>",
    b"&e;",
    b"<",
    b">",
    b"]]>",
    b"<![CDATA[",
    b"\x00",
    b"\xff\xfe",
    b"\xe4\xb8",
    b"<ofd:ObjectRef PageRef=\"999\">1</ofd:ObjectRef>",
    b"-9999999999999999999999999.99",
    b"1e999999",
    b"NaN",
    b"\xef\xbc\x91",
    b"</ofd:Document>",
    b"<x>" * 50,
    b"../../x",
    b"/Doc_0/../../../etc/passwd",
    b"PK\x03\x04",
]


def check(data: bytes, name: str = "", thorough: bool = False) -> None:
    try:
        doc = read_invoice(data, filename=name, thorough=thorough)
    except InvoiceFormatError as err:
        assert err.code in CODES, err.code
        assert err.message and err.http_status in (400, 413, 415, 422)
        return
    assert isinstance(doc, InvoiceDocument)
    doc.to_dict()
    assert isinstance(doc.business_key, str)


def _rezip(data: bytes, mutate) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.is_dir():
                continue
            dst.writestr(info.filename, mutate(info.filename, src.read(info)))
    return out.getvalue()


samples = st.sampled_from(CORPUS) if CORPUS else st.nothing()
flips = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8)


@needs_samples
@settings(max_examples=1200, **FAST)
@given(sample=samples, flips=flips)
def test_byte_flips(sample: tuple[str, bytes], flips: list[tuple[float, int]]) -> None:
    name, data = sample
    buf = bytearray(data)
    for where, value in flips:
        buf[int(where * len(buf))] = value
    check(bytes(buf), name)


@needs_samples
@settings(max_examples=400, **FAST)
@given(sample=samples, keep=st.floats(0, 1))
def test_truncation(sample: tuple[str, bytes], keep: float) -> None:
    name, data = sample
    check(data[: int(len(data) * keep)], name)


ofd_samples = st.sampled_from([s for s in CORPUS if not s[0].endswith(".xml")]) if CORPUS else st.nothing()
xml_mutation = st.one_of(
    st.tuples(st.just("insert"), st.floats(0, 1), st.sampled_from(NASTY)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 200)),
    st.tuples(st.just("flip"), st.floats(0, 1), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("duplicate"), st.floats(0, 1), st.integers(1, 300)),
)


def _apply(xml: bytes, ops: list) -> bytes:
    buf = bytearray(xml)
    for op, where, arg in ops:
        at = int(where * len(buf))
        if op == "insert":
            buf[at:at] = arg
        elif op == "delete":
            del buf[at : at + arg]
        elif op == "flip":
            buf[at : at + len(arg)] = arg
        else:
            buf[at:at] = buf[at : at + arg]
    return bytes(buf)


@needs_samples
@settings(max_examples=1000, **FAST)
@given(
    sample=ofd_samples,
    target=st.floats(0, 1, exclude_max=True),
    ops=st.lists(xml_mutation, min_size=1, max_size=4),
    thorough=st.booleans(),
)
def test_member_xml_mutations(sample: tuple[str, bytes], target: float, ops: list, thorough: bool) -> None:
    name, data = sample
    members = [n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.endswith((".xml", ".xbrl"))]
    victim = members[int(target * len(members))]
    check(_rezip(data, lambda n, b: _apply(b, ops) if n == victim else b), name, thorough)


@needs_samples
@settings(max_examples=300, **FAST)
@given(sample=st.sampled_from([s for s in CORPUS if s[0].endswith(".xml")]) if CORPUS else st.nothing(),
       ops=st.lists(xml_mutation, min_size=1, max_size=4))
def test_xml_upload_mutations(sample: tuple[str, bytes], ops: list) -> None:
    name, data = sample
    check(_apply(data, ops), name)


def _synthetic_pdf() -> bytes:
    from tests.support.textpdf import digital_invoice_lines, make_text_pdf

    return make_text_pdf(digital_invoice_lines("24310000000000000003"))


PDF = _synthetic_pdf()


@settings(max_examples=300, **FAST)
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=6),
       keep=st.floats(0.5, 1))
def test_pdf_mutations(flips: list[tuple[float, int]], keep: float) -> None:
    buf = bytearray(PDF[: max(16, int(len(PDF) * keep))])
    for where, value in flips:
        buf[int(where * len(buf))] = value
    check(bytes(buf), "x.pdf")


@pytest.mark.slow
@pytest.mark.skipif(not LONG, reason="set INVOICE_FUZZ_LONG=1 for the long fuzz run")
@needs_samples
@settings(max_examples=50_000, **FAST)
@given(sample=ofd_samples, target=st.floats(0, 1, exclude_max=True), ops=st.lists(xml_mutation, min_size=1, max_size=8),
       flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=4))
def test_long_mixed_mutations(sample, target, ops, flips) -> None:
    name, data = sample
    members = [n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.endswith((".xml", ".xbrl"))]
    victim = members[int(target * len(members))]
    mutated = bytearray(_rezip(data, lambda n, b: _apply(b, ops) if n == victim else b))
    for where, value in flips:
        mutated[int(where * len(mutated))] = value
    check(bytes(mutated), name, thorough=bool(len(ops) % 2))


def test_corpus_is_what_we_think(samples_dir: Path) -> None:
    assert len(CORPUS) >= 20
