"""Now invoice_archive/synth/textpdf.py (the acceptance command makes text PDFs too)."""
from invoice_archive.synth.textpdf import digital_invoice_lines, make_text_pdf  # noqa: F401
