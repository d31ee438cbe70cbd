"""The ``verify`` console command, called through ``run()``."""
from __future__ import annotations

import argparse
import json

from invoice_archive.cli.verify import add_parser, run
from tests.support import testca


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["verify", *argv])


def test_json_lines_one_object_per_file(signed_ofd, unsigned_ofd, tmp_path, capsys):
    good = tmp_path / "good.ofd"
    good.write_bytes(signed_ofd)
    plain = tmp_path / "plain.ofd"
    plain.write_bytes(unsigned_ofd)
    rc = run(_args(str(good), str(plain), "--json"))
    lines = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    objs = [json.loads(line) for line in lines]
    assert [o["verdict"] for o in objs] == ["valid", "unsigned"]
    assert objs[0]["file"].endswith("good.ofd")
    assert {c["code"] for c in objs[0]["checks"]} >= {"reference_digest", "signer_signature", "seal_signature"}


def test_tampered_file_exits_1_and_names_the_file(signed_ofd, tmp_path, capsys):
    bad = tmp_path / "bad.ofd"
    bad.write_bytes(testca.flip_byte(signed_ofd, "Doc_0/Pages/Page_0/Content.xml"))
    rc = run(_args(str(bad)))
    out = capsys.readouterr().out
    assert rc == 1
    assert "tampered" in out and "Doc_0/Pages/Page_0/Content.xml" in out


def test_trust_store_option(pki, signed_ofd, tmp_path, capsys):
    store = pki.write_trust_store(tmp_path / "trust")
    f = tmp_path / "a.ofd"
    f.write_bytes(signed_ofd)
    assert run(_args(str(f), "--json", "--trust-store", str(store))) == 0
    obj = json.loads(capsys.readouterr().out)
    assert [c["result"] for c in obj["checks"] if c["code"] == "chain_valid"] == ["pass", "pass"]


def test_missing_trust_store_directory(tmp_path, signed_ofd, capsys):
    f = tmp_path / "a.ofd"
    f.write_bytes(signed_ofd)
    assert run(_args(str(f), "--trust-store", str(tmp_path / "nope"))) == 2


def test_xml_and_unreadable_files(tmp_path, capsys):
    xml = tmp_path / "inv.xml"
    xml.write_bytes("<EInvoice><TaxBureauSignature><SignatureValue>AAAA</SignatureValue>"
                    "</TaxBureauSignature></EInvoice>".encode())
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01 not an invoice")
    rc = run(_args(str(xml), str(junk), str(tmp_path / "absent.ofd"), "--json"))
    objs = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rc == 2
    assert objs[0]["verdict"] == "present_not_verifiable"
    assert objs[1]["verdict"] is None and objs[1]["error"]
    assert objs[2]["verdict"] is None


def test_real_samples_human_output(samples_dir, capsys):
    rc = run(_args(str(samples_dir / "ofdrw" / "converter__1.ofd"),
                   str(samples_dir / "ofdrw" / "converter__发票示例.ofd"), "-v"))
    out = capsys.readouterr().out
    assert rc == 1
    assert "有效 (valid)" in out and "(tampered)" in out


def test_pdf_invoices_are_verified_too(pki, tmp_path, capsys):
    import datetime as dt

    from tests.support.pdfsign import sign_pdf
    from tests.support.textpdf import digital_invoice_lines, make_text_pdf

    when = dt.datetime(2024, 3, 15, tzinfo=dt.timezone.utc)
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(sign_pdf(make_text_pdf(digital_invoice_lines("24992000000000000099")),
                                lambda content: testca.signed_data(content, pki.signer, when, pkcs7=True)))
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(make_text_pdf(digital_invoice_lines("24992000000000000098")))
    rc = run(_args(str(signed), str(plain), "--json"))
    objs = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert rc == 0 and [o["verdict"] for o in objs] == ["valid", "unsigned"]
    assert "content_digest" in {c["code"] for c in objs[0]["checks"]}
