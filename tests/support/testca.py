"""The synthetic SM2 PKI and OFD signer, now in the package (invoice_archive/synth/pki.py)
because the acceptance command signs its own invoices with it; re-exported here so
that the tests keep their name for it."""
from invoice_archive.synth.pki import *  # noqa: F401,F403
from invoice_archive.synth.pki import SynthPKI, TestPKI  # noqa: F401
