"""Synthetic signed invoices from the test CA: each case reaches its verdict
and names the failing check."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from invoice_archive.synth.ofd import build_ofd_invoice
from invoice_archive.verification import TrustStore, verify_ofd
from tests.support import testca

from .helpers import failed_codes, members_of

CONTENT = "Doc_0/Pages/Page_0/Content.xml"


def _verify(ofd: bytes, trust_store=None):
    return verify_ofd(members_of(ofd), trust_store=trust_store)


def _result(report, code):
    return [c.result for c in report.checks if c.code == code]


def test_unsigned_synthetic_invoice_is_unsigned(unsigned_ofd):
    assert _verify(unsigned_ofd).verdict == "unsigned"


def test_chain_valid_with_test_root_in_trust_store(signed_ofd, trust_store):
    report = _verify(signed_ofd, trust_store)
    assert report.verdict == "valid", [c for c in report.checks if c.result != "pass"]
    assert _result(report, "chain_valid") == ["pass", "pass"]          # signer + seal maker
    for code in ("reference_digest", "data_hash", "signer_signature", "seal_signature",
                 "signer_cert_validity", "seal_maker_cert_validity", "seal_validity"):
        assert set(_result(report, code)) == {"pass"}, code
    (sig,) = report.signatures
    assert sig.version == "v4"
    assert sig.signer_certificate.subject_cn == "合成税务监制章签章者"
    assert sig.seal_certificate.role == "seal_maker"
    assert sig.signer_certificate.der_base64
    assert report.to_dict()["trust_store"]


def test_no_trust_store_means_chain_not_checked(signed_ofd):
    report = _verify(signed_ofd)
    assert report.verdict == "valid"
    assert _result(report, "chain_not_checked") == ["not_checked", "not_checked"]


def test_root_missing_from_trust_store_is_its_own_outcome(pki, signed_ofd, tmp_path):
    store = TrustStore.from_directory(pki.write_trust_store(tmp_path, with_root=False))
    report = _verify(signed_ofd, store)
    assert _result(report, "chain_root_untrusted") == ["warning", "warning"]
    assert "chain_invalid" not in failed_codes(report)
    assert report.verdict == "valid_with_warning"


def test_chain_from_another_root_is_untrusted(pki, signed_ofd, tmp_path):
    (tmp_path / "other.pem").write_bytes(pki.other_root.pem)
    report = _verify(signed_ofd, TrustStore.from_directory(tmp_path))
    assert "warning" in _result(report, "chain_root_untrusted")


def test_chain_broken(pki, unsigned_ofd, trust_store):
    # claims the intermediate as issuer but is signed by an unrelated key
    forged = testca.issue("伪造的签章者", pki.intermediate, signing_key=testca.KeyPair.generate())
    ofd = testca.sign_ofd(unsigned_ofd, forged, testca.SealSpec(pki.seal_maker))
    report = _verify(ofd, trust_store)
    assert report.verdict == "invalid"
    assert "chain_invalid" in failed_codes(report)
    assert _result(report, "signer_signature") == ["pass"]   # the SM2 math itself holds


def test_signer_expired_at_signing(pki, unsigned_ofd, trust_store):
    now = datetime.now(timezone.utc)
    expired = pki.issue_signer("已过期的签章者", not_before=now - timedelta(days=800),
                               not_after=now - timedelta(days=400))
    ofd = testca.sign_ofd(unsigned_ofd, expired, testca.SealSpec(pki.seal_maker),
                          signing_time=now - timedelta(days=10))
    report = _verify(ofd, trust_store)
    assert report.verdict == "invalid"
    assert "signer_cert_validity" in failed_codes(report)
    # the same finding without a trust store is reported but does not decide the verdict
    loose = _verify(ofd)
    assert loose.verdict == "valid"
    assert _result(loose, "signer_cert_validity") == ["not_checked"]


def test_signer_valid_at_signing_but_expired_now_is_valid(pki, unsigned_ofd, trust_store):
    now = datetime.now(timezone.utc)
    old = pki.issue_signer("当年有效的签章者", not_before=now - timedelta(days=800),
                           not_after=now - timedelta(days=400))
    ofd = testca.sign_ofd(unsigned_ofd, old, testca.SealSpec(pki.seal_maker),
                          signing_time=now - timedelta(days=500))
    report = _verify(ofd, trust_store)
    assert report.verdict == "valid", [c for c in report.checks if c.result != "pass"]


def test_wrong_seal(pki, unsigned_ofd, trust_store):
    seal = testca.SealSpec(pki.seal_maker, signing_key=testca.KeyPair.generate())
    report = _verify(testca.sign_ofd(unsigned_ofd, pki.signer, seal), trust_store)
    assert report.verdict == "invalid"
    assert failed_codes(report) == {"seal_signature"}


def test_one_byte_flipped_in_content_is_tampered(signed_ofd, trust_store):
    report = _verify(testca.flip_byte(signed_ofd, CONTENT), trust_store)
    assert report.verdict == "tampered"
    bad = [c for c in report.checks if c.result == "fail"]
    assert [(c.code, c.file) for c in bad] == [("reference_digest", CONTENT)]
    assert CONTENT in bad[0].detail


def test_swapped_signature_value(pki, signed_ofd, trust_store):
    other = testca.sign_ofd(build_ofd_invoice(number="00000099"), pki.signer,
                            testca.SealSpec(pki.seal_maker))
    sv = "Doc_0/Signs/Sign_0/SignedValue.dat"
    report = _verify(testca.replace_member(signed_ofd, sv, members_of(other)[sv]), trust_store)
    assert report.verdict == "invalid"
    assert "data_hash" in failed_codes(report)


def test_removed_signed_file_is_tampered(signed_ofd):
    members = members_of(signed_ofd)
    del members["Doc_0/Attachs/original_invoice.xml"]
    report = verify_ofd(members)
    assert report.verdict == "tampered"
    assert ("reference_missing", "Doc_0/Attachs/original_invoice.xml") in {
        (c.code, c.file) for c in report.checks if c.result == "fail"}


def test_raw_rs_signature_is_accepted(pki, unsigned_ofd, trust_store):
    ofd = testca.sign_ofd(unsigned_ofd, pki.signer, testca.SealSpec(pki.seal_maker), raw_rs=True)
    report = _verify(ofd, trust_store)
    assert report.verdict == "valid"
    assert any("r||s" in c.detail for c in report.checks if c.code == "signer_signature")


@pytest.mark.parametrize("method", ["SM3", "sm3", "1.2.156.10197.1.401"])
def test_check_method_variants(pki, unsigned_ofd, method):
    ofd = testca.sign_ofd(unsigned_ofd, pki.signer, testca.SealSpec(pki.seal_maker),
                          check_method=method)
    assert _verify(ofd).verdict == "valid"


def test_unknown_check_method_is_invalid(pki, unsigned_ofd):
    ofd = testca.sign_ofd(unsigned_ofd, pki.signer, testca.SealSpec(pki.seal_maker),
                          check_method="1.2.156.10197.1.401.2")
    report = _verify(ofd)
    assert report.verdict == "invalid"
    assert "digest_method" in failed_codes(report)
    assert set(_result(report, "reference_digest")) == {"not_checked"}


def test_gbt35275_signed_data(pki, unsigned_ofd, trust_store):
    ofd = testca.sign_ofd(unsigned_ofd, pki.signer, variant="gbt35275")
    report = _verify(ofd, trust_store)
    assert report.verdict == "valid", [c for c in report.checks if c.result != "pass"]
    assert [s.version for s in report.signatures] == ["gbt35275"]
    assert _result(report, "message_digest") == ["pass"]
    tampered = _verify(testca.flip_byte(ofd, CONTENT), trust_store)
    assert tampered.verdict == "tampered"


def test_gbt35275_swapped_signature(pki, unsigned_ofd):
    a = testca.sign_ofd(unsigned_ofd, pki.signer, variant="gbt35275")
    b = testca.sign_ofd(build_ofd_invoice(number="00000077"), pki.signer, variant="gbt35275")
    sv = "Doc_0/Signs/Sign_0/SignedValue.dat"
    report = _verify(testca.replace_member(a, sv, members_of(b)[sv]))
    assert report.verdict == "invalid"
    assert "message_digest" in failed_codes(report)


def test_second_signature_changing_signatures_xml_is_a_warning(pki, unsigned_ofd):
    seal = testca.SealSpec(pki.seal_maker)
    once = testca.sign_ofd(unsigned_ofd, pki.signer, seal, sign_signatures_xml=True)
    twice = testca.sign_ofd(once, pki.signer, seal, sign_signatures_xml=True)
    report = _verify(twice)
    assert report.verdict == "valid_with_warning"
    warns = [c for c in report.checks if c.result == "warning"]
    assert [(c.signature, c.file) for c in warns] == [("1", "Doc_0/Signs/Signatures.xml")]
    assert [s.verdict for s in report.signatures] == ["valid_with_warning", "valid"]


def test_real_sample_certificates_lack_roots(samples_dir):
    """certs/ holds signer and seal-maker certificates but no roots."""
    from .helpers import read_members
    store = TrustStore.from_directory(samples_dir / "certs")
    assert store.intermediates
    report = verify_ofd(read_members(samples_dir / "ofdrw" / "converter__1.ofd"), trust_store=store)
    assert _result(report, "chain_root_untrusted") == ["warning", "warning"]
    assert report.verdict == "valid_with_warning"
    assert all(c.result != "fail" for c in report.checks)


def test_ses_v5_layout(pki, unsigned_ofd, trust_store):
    ofd = testca.sign_ofd(unsigned_ofd, pki.signer, testca.SealSpec(pki.seal_maker), ses_version=5)
    report = _verify(ofd, trust_store)
    assert report.verdict == "valid"
    assert [s.version for s in report.signatures] == ["v5"]
