"""PDF invoice signatures: SM2 (GB/T 35275 structure under the CMS OIDs, as the
tax bureau signs), and RSA / ECDSA CMS made by OpenSSL through ``cryptography``
(an independent signer), each tampered, appended to and forged."""
from __future__ import annotations

import datetime as dt

import pytest

from invoice_archive.formats import read_invoice
from invoice_archive.verification.pdf import verify_pdf
from tests.support import testca
from tests.support.pdfsign import sign_pdf
from tests.support.textpdf import digital_invoice_lines, make_text_pdf

WHEN = dt.datetime(2024, 5, 28, 6, 17, 33, tzinfo=dt.timezone.utc)
NUMBER = "24992000000000000077"


@pytest.fixture(scope="module")
def plain_pdf() -> bytes:
    return make_text_pdf(digital_invoice_lines(NUMBER))


@pytest.fixture(scope="module")
def sm2_pdf(pki, plain_pdf) -> bytes:
    return sign_pdf(plain_pdf, lambda content: testca.signed_data(content, pki.signer, WHEN, pkcs7=True))


def _results(report) -> dict[str, str]:
    return {c.code: c.result for c in report.checks}


def test_an_unsigned_pdf_is_unsigned(plain_pdf):
    report = verify_pdf(plain_pdf)
    assert report.verdict == "unsigned" and report.checks == ()


def test_sm2_signature_verifies_with_its_chain(sm2_pdf, trust_store):
    report = verify_pdf(sm2_pdf, trust_store=trust_store)
    assert report.verdict == "valid", [c.to_dict() for c in report.checks]
    results = _results(report)
    for code in ("byte_range", "pdf_coverage", "content_digest", "signer_signature", "signer_cert_validity",
                 "chain_valid"):
        assert results[code] == "pass", code
    [info] = report.signatures
    assert info.version == "pkcs7" and info.signature_method == "adbe.pkcs7.detached"
    assert info.signing_time == WHEN and info.signing_time_source == "signed_attributes"
    assert info.signer_certificate.subject_cn == "合成税务监制章签章者"


def test_without_a_trust_store_the_chain_is_not_checked(sm2_pdf):
    report = verify_pdf(sm2_pdf)
    assert report.verdict == "valid" and _results(report)["chain_not_checked"] == "not_checked"


def test_the_signed_pdf_still_reads_as_the_invoice(sm2_pdf):
    doc = read_invoice(sm2_pdf, filename="x.pdf")
    assert doc.number == NUMBER and str(doc.total) == "106.00"


def test_a_changed_byte_inside_the_signed_range_is_tampering(sm2_pdf):
    at = sm2_pdf.index(b"BT /F1")
    forged = sm2_pdf[:at] + b"BT /F2" + sm2_pdf[at + 6:]
    report = verify_pdf(forged)
    assert report.verdict == "tampered"
    assert _results(report)["content_digest"] == "fail"
    assert _results(report)["signer_signature"] == "pass"   # the signature is genuine; the file is not


def test_bytes_appended_after_signing_are_a_warning(sm2_pdf):
    update = b"5 0 obj\n<< /Length 0 >>\nstream\n\nendstream\nendobj\n%%EOF\n"
    report = verify_pdf(sm2_pdf + update)
    assert report.verdict == "valid_with_warning"
    assert _results(report)["pdf_coverage"] == "warning"


def test_a_later_signature_covering_the_update_is_normal(pki, sm2_pdf):
    twice = sign_pdf(sm2_pdf, lambda c: testca.signed_data(c, pki.seal_maker, WHEN, pkcs7=True))
    report = verify_pdf(twice)
    assert len(report.signatures) == 2 and report.verdict == "valid_with_warning"
    first = [c for c in report.checks if c.signature == "1"]
    assert {c.code: c.result for c in first}["pdf_coverage"] == "warning"
    assert "后一个签名覆盖" in next(c.detail for c in first if c.code == "pdf_coverage")
    assert {c.code: c.result for c in report.checks if c.signature == "2"}["pdf_coverage"] == "pass"


def test_a_signature_by_another_key_is_invalid(pki, plain_pdf):
    import dataclasses

    # the certificate names pki.signer; the key that signed is somebody else's
    impostor = dataclasses.replace(pki.signer, key=testca.KeyPair.generate())
    report = verify_pdf(sign_pdf(plain_pdf, lambda content: testca.signed_data(content, impostor, WHEN, pkcs7=True)))
    assert report.verdict == "invalid"
    assert _results(report)["signer_signature"] == "fail"


def test_garbage_in_contents_is_invalid(plain_pdf):
    report = verify_pdf(sign_pdf(plain_pdf, lambda content: b"\x30\x03\x02\x01\x01"))
    assert report.verdict == "invalid" and _results(report)["signed_value"] == "fail"


def test_a_byte_range_outside_a_signature_dictionary_is_not_a_signature(plain_pdf):
    decoy = plain_pdf.replace(b"%PDF-1.7\n", b"%PDF-1.7\n% /ByteRange [0 10 20 30]\n", 1)
    assert verify_pdf(decoy).verdict == "unsigned"


def test_a_byte_range_past_the_end_is_invalid(sm2_pdf):
    at = sm2_pdf.index(b"/ByteRange [0 ")
    end = sm2_pdf.index(b"]", at)
    a, b, c, d = sm2_pdf[at + 12:end].split()
    forged = sm2_pdf[:at + 12] + b"0 %s %s %010d" % (b, c, int(d) + 10) + sm2_pdf[end:]
    assert verify_pdf(forged).verdict == "invalid"


@pytest.mark.parametrize("algorithm", ["rsa", "ecdsa"])
def test_rsa_and_ecdsa_cms_from_openssl(plain_pdf, algorithm):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import pkcs7
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if algorithm == "rsa" \
        else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"PDF 签名测试 ({algorithm})")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
            .not_valid_after(dt.datetime(2034, 1, 1, tzinfo=dt.timezone.utc))
            .sign(key, hashes.SHA256()))

    def sign(content: bytes) -> bytes:
        return (pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(cert, key, hashes.SHA256())
                .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]))

    signed = sign_pdf(plain_pdf, sign)
    report = verify_pdf(signed)
    assert report.verdict == "valid", [c.to_dict() for c in report.checks]
    assert _results(report)["signer_signature"] == "pass"
    at = signed.index(b"BT /F1")
    assert verify_pdf(signed[:at] + b"BT /F2" + signed[at + 6:]).verdict == "tampered"


def test_mutated_signed_pdfs_never_crash_the_verifier(sm2_pdf):
    """Thousands of byte flips, truncations and splices: always a report, never an exception."""
    import random

    rnd = random.Random(20261122)
    start = sm2_pdf.index(b"/ByteRange")
    for _ in range(1500):
        data = bytearray(sm2_pdf)
        for _ in range(rnd.randint(1, 4)):
            at = rnd.randrange(start - 200, len(data)) if rnd.random() < 0.7 else rnd.randrange(len(data))
            choice = rnd.random()
            if choice < 0.5:
                data[at] = rnd.randrange(256)
            elif choice < 0.75:
                del data[at:at + rnd.randint(1, 64)]
            else:
                data[at:at] = rnd.choice([b"/ByteRange [0 1 2 3]", b"<", b">", b"00", b"\x30\x82\xff\xff"])
        report = verify_pdf(bytes(data))
        assert report.verdict in {"valid", "valid_with_warning", "tampered", "invalid", "unsigned"}
