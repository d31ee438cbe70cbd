"""DER walker, SM2/SM3 backends, time parsing, trust store loading."""
from __future__ import annotations

from datetime import datetime, timezone

import gmssl_pyx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoice_archive.verification import TrustStore, sm, verify_ofd
from invoice_archive.verification._der import DerError, parse_all
from invoice_archive.verification.certs import CertificateError
from invoice_archive.verification.ses import SignedValueError, parse_signed_value, parse_time

from .helpers import members_of


def test_sm3_known_answer():
    # GB/T 32905 example 1
    assert sm.sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_backends_agree_and_accept_raw_rs():
    pub, priv = gmssl_pyx.sm2_key_generate()
    msg = b"invoice" * 100
    sig = gmssl_pyx.sm2_sign(priv, pub, msg)
    assert sm.sm2_verify(pub, msg, sig)
    assert sm.sm2_verify(b"\x04" + pub, msg, sig)
    assert sm.gmssl_backend.verify(pub, msg, sig)
    rs = sm.raw_rs(sig)
    assert len(rs) == 64 and sm.sm2_verify(pub, msg, rs)
    assert sm.normalize_signature(rs)[1] == "raw_rs"
    assert not sm.sm2_verify(pub, msg + b"!", sig)
    assert not sm.sm2_verify(pub, msg, sig, user_id=b"another-user-id!")
    with pytest.raises(ValueError):
        sm.sm2_verify(pub[:10], msg, sig)
    with pytest.raises(ValueError):
        sm.sm2_verify(pub, msg, b"\x01\x02\x03")


def test_main_path_is_native():
    assert sm.backend_name() in {"openssl-libcrypto", "gmssl-pyx"}


def test_der_walker_keeps_raw_bytes():
    data = bytes.fromhex("3009020101180432303230")   # SEQ{INT 1, GeneralizedTime "2020"}
    root = parse_all(data)
    a, b = root.children()
    assert a.as_int() == 1 and b.raw == bytes.fromhex("180432303230") and b.as_text() == "2020"
    with pytest.raises(DerError):
        parse_all(data + b"\x00")
    with pytest.raises(DerError):
        parse_all(bytes.fromhex("3080020101"))   # indefinite length
    with pytest.raises(DerError):
        parse_all(bytes.fromhex("300a0201"))     # truncated


@pytest.mark.parametrize("text,expected", [
    ("20200723130907.763Z", datetime(2020, 7, 23, 13, 9, 7, 763000, tzinfo=timezone.utc)),
    ("20220221142531", datetime(2022, 2, 21, 6, 25, 31, tzinfo=timezone.utc)),     # no zone: CST
    ("2020-01-25T07:31:56.377Z", datetime(2020, 1, 25, 7, 31, 56, 377000, tzinfo=timezone.utc)),
    ("2020-07-16 16:04:27", datetime(2020, 7, 16, 8, 4, 27, tzinfo=timezone.utc)),
    ("20200101000000+0800", datetime(2019, 12, 31, 16, 0, tzinfo=timezone.utc)),
    ("not a time", None), ("", None),
])
def test_parse_time(text, expected):
    assert parse_time(text) == expected


def test_utc_time_two_digit_year():
    assert parse_time("220317072054Z", utc_two_digit_year=True) == datetime(2022, 3, 17, 7, 20, 54, tzinfo=timezone.utc)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_signed_value_never_crashes(blob):
    try:
        parse_signed_value(blob)
    except SignedValueError:
        pass


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=255))
def test_any_change_to_the_signed_bytes_is_detected(signed_ofd, offset, xor):
    """Flip one byte anywhere in TBS_Sign (what the signer signed): never valid."""
    name = "Doc_0/Signs/Sign_0/SignedValue.dat"
    m = members_of(signed_ofd)
    original = m[name]
    tbs = parse_all(original).children()[0]
    b = bytearray(original)
    b[tbs.start + offset % (tbs.end - tbs.start)] ^= xor
    m[name] = bytes(b)
    assert verify_ofd(m).verdict in {"invalid", "tampered"}


def test_changed_signer_certificate_breaks_the_seal_binding(pki, signed_ofd):
    """The signer certificate sits outside TBS_Sign; the seal's signed list binds it."""
    for _ in range(50):   # same key, different certificate of the same length
        other = pki.issue_signer("合成税务监制章签章乙", key=pki.signer.key)
        if len(other.cert) == len(pki.signer.cert):
            break
    name = "Doc_0/Signs/Sign_0/SignedValue.dat"
    m = members_of(signed_ofd)
    head, cert, tail = m[name].rpartition(pki.signer.cert)   # the one outside TBS_Sign
    m[name] = head + other.cert + tail
    assert m[name] != members_of(signed_ofd)[name]
    r = verify_ofd(m)
    assert r.verdict == "invalid"
    assert {c.code for c in r.checks if c.result == "fail"} == {"seal_signer_binding"}


def test_unparseable_signed_value_is_invalid(signed_ofd):
    m = members_of(signed_ofd)
    m["Doc_0/Signs/Sign_0/SignedValue.dat"] = b"\x30\x03\x02\x01"
    r = verify_ofd(m)
    assert r.verdict == "invalid"
    assert {c.code for c in r.checks if c.result == "fail"} == {"signed_value"}


def test_missing_signature_list_is_invalid_not_unsigned(signed_ofd):
    m = members_of(signed_ofd)
    del m["Doc_0/Signs/Signatures.xml"]
    r = verify_ofd(m)
    assert r.verdict == "invalid"
    assert "signature_list" in {c.code for c in r.checks if c.result == "fail"}


def test_members_with_leading_slash_and_formats_package(signed_ofd):
    m = {"/" + k: v for k, v in members_of(signed_ofd).items()}
    assert verify_ofd(m).verdict == "valid"
    formats = pytest.importorskip("invoice_archive.formats")
    if hasattr(formats, "open_ofd"):
        assert verify_ofd(formats.open_ofd(signed_ofd)).verdict == "valid"


def test_trust_store_loading(pki, tmp_path):
    (tmp_path / "bundle.pem").write_bytes(pki.root.pem + pki.other_root.pem)
    (tmp_path / "inter.cer").write_bytes(pki.intermediate.cert)
    (tmp_path / "README.txt").write_text("ignored")
    ts = TrustStore.from_directory(tmp_path)
    assert len(ts.roots) == 2 and len(ts.intermediates) == 1
    (tmp_path / "broken.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateError):
        TrustStore.from_directory(tmp_path)
    with pytest.raises(FileNotFoundError):
        TrustStore.from_directory(tmp_path / "absent")


def test_now_and_verifier_version(signed_ofd):
    from invoice_archive.verification import VERIFIER_VERSION
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    r = verify_ofd(members_of(signed_ofd), now=now)
    assert r.verified_at == now and r.verifier_version == VERIFIER_VERSION
    # frozen
    with pytest.raises(AttributeError):
        r.verdict = "invalid"  # type: ignore[misc]


def test_concurrent_verification_with_key_cache_churn():
    """Threads verifying with more keys than the native key cache holds."""
    from concurrent.futures import ThreadPoolExecutor
    keys = [gmssl_pyx.sm2_key_generate() for _ in range(12)]
    msgs = [(pub, b"m%d" % i, gmssl_pyx.sm2_sign(priv, pub, b"m%d" % i))
            for i, (pub, priv) in enumerate(keys)]
    backend = sm._backend
    old = getattr(backend, "_CACHE_SIZE", None)
    if old is not None:
        backend._CACHE_SIZE = 3
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda a: sm.sm2_verify(*a), msgs * 20))
    finally:
        if old is not None:
            backend._CACHE_SIZE = old
    assert all(results)
