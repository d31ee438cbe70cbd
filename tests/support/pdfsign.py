"""Now invoice_archive/synth/pdfsign.py (the acceptance command signs PDFs too)."""
from invoice_archive.synth.pdfsign import PLACEHOLDER, sign_pdf  # noqa: F401
