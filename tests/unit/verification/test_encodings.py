"""Signature values and times as real producers write them (docs/signatures.md).

Every fixture here is made by the project's own test PKI: a valid signature is
re-encoded after signing in each quirky form real issuers use (non-canonical
INTEGERs, a trimmed BIT STRING, UTCTime years...).  Genuine ones must verify
(``valid_with_warning``: the mathematics holds, the encoding is reported);
tampered bytes and wrong keys must still fail.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoice_archive.verification import sm, verify_ofd
from invoice_archive.verification._der import parse_all
from invoice_archive.verification.ses import SignedValueError, parse_seal_bytes, parse_signed_value, parse_time
from tests.support import testca

from .helpers import failed_codes, members_of

SV = "Doc_0/Signs/Sign_0/SignedValue.dat"
QUIRKS = ("ber_unsigned", "ber_padded", "trimmed", "trimmed_raw_rs")
WHEN = datetime(2024, 5, 28, 9, 30, 15, tzinfo=timezone.utc)


def _checks(report, code):
    return [c for c in report.checks if c.code == code]


# --- the primitive ------------------------------------------------------------

@pytest.mark.parametrize("form, expected", [
    ("der", "der"), ("raw_rs", "raw_rs"), ("ber_unsigned", "ber"), ("ber_padded", "ber"),
    ("trimmed", "trimmed"), ("trimmed_raw_rs", "trimmed_raw_rs"),
])
def test_normalize_signature_reads_each_form_back_to_the_same_der(form, expected):
    key = testca.KeyPair.generate()
    for _ in range(2000):
        der = key.sign(b"message")
        value = testca.quirky_bits(der, form)
        if value is not None:
            break
    node = parse_all(value)
    canonical, found = sm.normalize_signature(node.as_bits(), node.unused_bits())
    assert found == expected
    assert canonical == der
    assert sm.sm2_verify_der(key.public, b"message", canonical)
    assert not sm.sm2_verify_der(key.public, b"messagE", canonical)


@pytest.mark.parametrize("junk", [
    b"", b"\x30\x00", b"\x30\x03\x02\x01\x01",                    # one INTEGER
    b"\x30\x06\x02\x01\x01\x04\x01\x01",                          # an OCTET STRING for s
    b"\x30\x10" + b"\x02\x01\x01" * 2,                            # 10 bytes missing: not a trim
    b"\x31\x06\x02\x01\x01\x02\x01\x01",                          # a SET
    bytes(65), bytes(61),
])
def test_normalize_signature_refuses_what_is_not_a_signature(junk):
    with pytest.raises(ValueError):
        sm.normalize_signature(junk)


# --- whole invoices ----------------------------------------------------------------

@pytest.mark.parametrize("form", QUIRKS)
def test_quirky_signer_signature_is_valid_with_a_warning(pki, unsigned_ofd, trust_store, form):
    ofd = testca.sign_ofd(unsigned_ofd, pki.signer, testca.SealSpec(pki.seal_maker), signature_form=form)
    report = verify_ofd(members_of(ofd), trust_store=trust_store)
    assert report.verdict == "valid_with_warning", [c.to_dict() for c in report.checks if c.result != "pass"]
    assert [c.result for c in _checks(report, "signer_signature")] == ["pass"]
    warnings = _checks(report, "signature_encoding")
    assert len(warnings) == 1 and warnings[0].result == "warning"
    assert "签章者" in warnings[0].detail
    assert {c.code for c in report.warnings} == {"signature_encoding"}


@pytest.mark.parametrize("form", QUIRKS)
def test_quirky_seal_signature_is_valid_with_a_warning(pki, unsigned_ofd, trust_store, form):
    seal = testca.SealSpec(pki.seal_maker, signature_form=form)
    report = verify_ofd(members_of(testca.sign_ofd(unsigned_ofd, pki.signer, seal)), trust_store=trust_store)
    assert report.verdict == "valid_with_warning"
    assert [c.result for c in _checks(report, "seal_signature")] == ["pass"]
    assert "制章者" in _checks(report, "signature_encoding")[0].detail


@pytest.mark.parametrize("form", QUIRKS)
def test_quirky_encoding_never_hides_a_wrong_key(pki, unsigned_ofd, form):
    forged = testca.SealSpec(pki.seal_maker, signing_key=testca.KeyPair.generate(), signature_form=form)
    report = verify_ofd(members_of(testca.sign_ofd(unsigned_ofd, pki.signer, forged)))
    assert report.verdict == "invalid"
    assert failed_codes(report) == {"seal_signature"}
    assert not _checks(report, "signature_encoding")


@pytest.mark.parametrize("form", QUIRKS)
def test_quirky_encoding_never_hides_tampering(pki, unsigned_ofd, form):
    ofd = testca.sign_ofd(unsigned_ofd, pki.signer, testca.SealSpec(pki.seal_maker), signature_form=form)
    report = verify_ofd(members_of(testca.flip_byte(ofd, "Doc_0/Pages/Page_0/Content.xml")))
    assert report.verdict == "tampered"


@pytest.fixture(scope="module")
def quirky_signed(pki, unsigned_ofd) -> dict[str, bytes]:
    return {form: testca.sign_ofd(unsigned_ofd, pki.signer, testca.SealSpec(pki.seal_maker),
                                  signature_form=form)
            for form in QUIRKS}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(QUIRKS), st.integers(min_value=0, max_value=100_000),
       st.integers(min_value=1, max_value=255))
def test_any_change_to_a_quirky_signed_value_is_never_valid(quirky_signed, form, offset, xor):
    """Flip one byte anywhere in the signed value (TBS, certificate, signature):
    the lenient reading must never turn a changed value into a valid one."""
    m = members_of(quirky_signed[form])
    b = bytearray(m[SV])
    b[offset % len(b)] ^= xor
    m[SV] = bytes(b)
    assert verify_ofd(m).verdict not in {"valid", "valid_with_warning"}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(QUIRKS), st.integers(min_value=1, max_value=3))
def test_cutting_the_signature_short_is_never_valid(quirky_signed, form, cut):
    m = members_of(quirky_signed[form])
    value = parse_signed_value(m[SV])
    sig_node = parse_all(m[SV]).children()[-1]
    head = m[SV][:sig_node.start]
    content = sig_node.content[:-cut]
    from invoice_archive.verification._der import tlv
    new_sig = tlv(0x03, content)
    body = head[2:] if head[1] < 0x80 else head[2 + (head[1] & 0x7F):]
    m[SV] = tlv(0x30, body + new_sig)
    assert value.signature  # the original parsed
    assert verify_ofd(m).verdict not in {"valid", "valid_with_warning"}


# --- times ------------------------------------------------------------------------

@pytest.mark.parametrize("form, expected", [
    ("generalized", WHEN),
    ("generalized_local", WHEN.replace(microsecond=500000)),
    ("utc", WHEN),
    ("utc_in_generalized", WHEN),
])
def test_signing_time_in_every_asn1_form(pki, unsigned_ofd, form, expected):
    seal = testca.SealSpec(pki.seal_maker, valid_start=datetime(2020, 1, 1, tzinfo=timezone.utc),
                           valid_end=datetime(2030, 1, 1, tzinfo=timezone.utc))
    ofd = testca.sign_ofd(unsigned_ofd, pki.signer, seal, signing_time=WHEN, time_form=form)
    report = verify_ofd(members_of(ofd))
    info = report.signatures[0]
    assert info.signing_time == expected
    assert info.signing_time_source == "tbs"
    assert report.verdict == "valid"


@pytest.mark.parametrize("text, utc_tag, expected", [
    ("491231235959Z", True, datetime(2049, 12, 31, 23, 59, 59, tzinfo=timezone.utc)),
    ("500101000000Z", True, datetime(1950, 1, 1, tzinfo=timezone.utc)),
    ("240528093015Z", False, WHEN),                      # UTCTime text in a BIT STRING
    ("2405280930Z", False, WHEN.replace(second=0)),      # UTCTime without seconds (BER)
    ("240528173015+0800", False, WHEN),
    ("240528173015", False, WHEN),                        # no zone: China time
    ("20240528093015Z", False, WHEN),
    ("20240528093015.25Z", False, WHEN.replace(microsecond=250000)),
    ("20240528173015,5", False, WHEN.replace(microsecond=500000)),
    ("20240528093015Z\x00", False, WHEN),
    ("991332000000Z", True, None),                       # month 13
])
def test_parse_time_forms(text, utc_tag, expected):
    assert parse_time(text, utc_two_digit_year=utc_tag) == expected


# --- the module's own errors ---------------------------------------------------------

def test_a_seal_file_where_a_signed_value_is_expected_is_a_signed_value_error(pki, signed_ofd):
    seal = testca.build_seal_v4(testca.SealSpec(pki.seal_maker))
    with pytest.raises(SignedValueError):
        parse_signed_value(seal)
    with pytest.raises(SignedValueError):
        parse_seal_bytes(members_of(signed_ofd)[SV])
    with pytest.raises(SignedValueError):
        parse_seal_bytes(b"\x30\x03\x02\x01")
