from __future__ import annotations

from datetime import datetime, timezone

import pytest

from invoice_archive.verification import ReimbursementPolicy, verify_xml

SIGNED_XML = ("<?xml version='1.0' encoding='UTF-8'?><EInvoice><Header><EIid>24992000000000000001</EIid>"
              "</Header><TaxBureauSignature><SignatureAlgorithm>1.2.156.10197.1.501</SignatureAlgorithm>"
              "<SignatureFormat>DETACH</SignatureFormat><SignatureTime>2024-05-28 14:17:34</SignatureTime>"
              "<SignatureValue>MEUCIQD=</SignatureValue></TaxBureauSignature></EInvoice>").encode()


class TestPolicy:
    def test_default(self):
        p = ReimbursementPolicy()
        assert p.permits("valid", None)
        assert not p.permits("valid_with_warning", None)
        assert not p.permits("unsigned", None)
        assert not p.permits("unsigned", "abnormal")
        assert p.permits("unsigned", "normal")
        assert p.permits("present_not_verifiable", "normal")
        assert not p.permits("present_not_verifiable", None)
        assert not p.permits("tampered", "normal")
        assert not p.permits("invalid", "normal")
        assert not p.permits("no-such-verdict", "normal")

    def test_configurable(self):
        p = ReimbursementPolicy(frozenset({"valid", "valid_with_warning", "unsigned"}),
                                unsigned_requires_tax_check=False)
        assert p.permits("valid_with_warning", None)
        assert p.permits("unsigned", None)
        assert not p.permits("present_not_verifiable", None)

    @pytest.mark.parametrize("bad", [{"tampered"}, {"invalid"}, {"bogus"}])
    def test_refuses_unsafe_or_unknown(self, bad):
        with pytest.raises(ValueError):
            ReimbursementPolicy(frozenset(bad))

    def test_from_settings(self):
        from invoice_archive.settings import load

        p = load({"verification.allowed_verdicts": "valid, valid_with_warning",
                  "verification.unsigned_requires_tax_check": "false"}, environ={}).verification.reimbursement
        assert p.allowed_verdicts == {"valid", "valid_with_warning"}
        assert p.unsigned_requires_tax_check is False
        assert load({}, environ={}).verification.reimbursement == ReimbursementPolicy()


class TestXml:
    def test_tax_bureau_signature_is_present_not_verifiable(self):
        now = datetime(2025, 1, 1, tzinfo=timezone.utc)
        r = verify_xml(SIGNED_XML, now=now)
        assert r.verdict == "present_not_verifiable"
        assert r.verified_at == now
        (c,) = r.checks
        assert (c.code, c.result) == ("tax_bureau_signature", "not_checked")
        (s,) = r.signatures
        assert s.signature_method == "1.2.156.10197.1.501"
        assert s.signing_time == datetime(2024, 5, 28, 6, 17, 34, tzinfo=timezone.utc)  # CST

    def test_without_signature_is_unsigned(self):
        assert verify_xml(b"<EInvoice><Header/></EInvoice>").verdict == "unsigned"

    def test_malformed_or_dtd_is_invalid_not_valid(self):
        assert verify_xml(b"<EInvoice>").verdict == "invalid"
        bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
                b"<EInvoice><TaxBureauSignature>&a;</TaxBureauSignature></EInvoice>")
        r = verify_xml(bomb)
        assert r.verdict == "invalid"
        assert "DTD" in r.checks[0].detail
