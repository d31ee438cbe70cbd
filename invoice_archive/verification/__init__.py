"""Authenticity of e-invoices: signatures, seals, certificates (pure: no DB, no web).

Entry points: :func:`verify_ofd` (an OFD package as its zip members),
:func:`verify_xml` (a 数电票 XML) and :func:`verify_pdf` (a PDF invoice's CMS
signatures).  See docs/signatures.md.
"""
from .certs import TrustStore
from .ofd import verify_ofd
from .pdf import verify_pdf
from .policy import ReimbursementPolicy
from .report import VERIFIER_VERSION, Check, CertificateInfo, SignatureInfo, VerificationReport
from .xml import verify_xml

__all__ = [
    "verify_ofd", "verify_pdf", "verify_xml", "VerificationReport", "Check", "TrustStore",
    "VERIFIER_VERSION", "ReimbursementPolicy", "CertificateInfo", "SignatureInfo",
]
