"""Session-scoped test PKI (keys are generated once per test session)."""
from __future__ import annotations

import pytest

from invoice_archive.synth.ofd import build_ofd_invoice
from invoice_archive.verification import TrustStore
from tests.support import testca


@pytest.fixture(scope="session")
def pki() -> testca.TestPKI:
    return testca.build_pki()


@pytest.fixture(scope="session")
def trust_store(pki, tmp_path_factory) -> TrustStore:
    return TrustStore.from_directory(pki.write_trust_store(tmp_path_factory.mktemp("trust")))


@pytest.fixture(scope="session")
def unsigned_ofd() -> bytes:
    return build_ofd_invoice(buyer_tax_id="91440300SYNTH0003C", number="00000042")


@pytest.fixture(scope="session")
def signed_ofd(pki, unsigned_ofd) -> bytes:
    return testca.sign_ofd(unsigned_ofd, pki.signer, testca.SealSpec(pki.seal_maker))
