"""Authenticity of e-invoices: signatures, seals, certificates (pure: no DB, no web).

Entry points: :func:`verify_ofd` (an OFD package as its zip members) and
:func:`verify_xml` (a 数电票 XML).  See DOMAIN.md §4.
"""
from .certs import TrustStore
from .ofd import verify_ofd
from .policy import ReimbursementPolicy
from .report import VERIFIER_VERSION, Check, CertificateInfo, SignatureInfo, VerificationReport
from .xml import verify_xml

__all__ = [
    "verify_ofd", "verify_xml", "VerificationReport", "Check", "TrustStore",
    "VERIFIER_VERSION", "ReimbursementPolicy", "CertificateInfo", "SignatureInfo",
]
