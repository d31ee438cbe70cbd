"""The auditor's voucher bundle and its offline verifier (pure: no DB, no web).

* :func:`build_bundle` (:class:`BundleParts`, :class:`InvoiceFile`) -> zip bytes
  holding the voucher, claim, originals, renditions, reports, metadata, audit-log
  extract, ``manifest.json`` (size, SHA-256, SM3 of every file) and
  ``manifest.sig`` (the manifest signed with the service's own key);
* :class:`ManifestSigner` (Ed25519 or SM2-with-SM3), :func:`generate_key`,
  :func:`load_signer`, :func:`signer_from_settings`;
* :func:`verify_bundle` -> :class:`BundleReport`.
"""
from .build import BUNDLE_FORMAT, BundleParts, InvoiceFile, build_bundle
from .signing import (ALGORITHMS, ED25519, SM2_SM3, Ed25519Signer, ManifestSigner, SigningKeyError,
                      Sm2Signer, generate_key, load_signer, new_signer, signer_from_pem,
                      signer_from_settings, verify_signature)
from .verify import BundleCheck, BundleReport, verify_bundle

__all__ = [
    "BUNDLE_FORMAT", "BundleParts", "InvoiceFile", "build_bundle",
    "ALGORITHMS", "ED25519", "SM2_SM3", "ManifestSigner", "Ed25519Signer", "Sm2Signer",
    "SigningKeyError", "generate_key", "load_signer", "new_signer", "signer_from_pem",
    "signer_from_settings", "verify_signature",
    "BundleCheck", "BundleReport", "verify_bundle",
]
