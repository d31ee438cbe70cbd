"""Synthetic invoices (built, never copied) for the rule tests."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoice_archive.formats import read_invoice
from invoice_archive.rules import Organisation, RulesContext, policy_from_settings
from invoice_archive.synth.xml import SynthInvoice, SynthLine, build_xml_invoice

BUYER_NAME = "演示科技（北京）有限公司"
BUYER_TAX_ID = "91110000DEMO00001X"
TODAY = dt.date(2024, 8, 1)

POLICY_SETTINGS = {
    "rules.category.travel.label": "差旅费",
    "rules.category.travel.kinds": "digital_normal vat_e_normal railway_ticket",
    "rules.category.travel.max_total": "5000.00",
    "rules.category.office.kinds": "digital_normal, digital_special vat_e_normal vat_e_special",
    "rules.category.misc.label": "其他",
}


def synth_doc(**overrides):
    fields = {"buyer_name": BUYER_NAME, "buyer_tax_id": BUYER_TAX_ID}
    fields.update(overrides)
    return read_invoice(build_xml_invoice(SynthInvoice(**fields)), filename="synth.xml")


@pytest.fixture
def doc():
    """数电票 (普票), two lines at 6% and 13%: 1000.00 + 60.00 and 200.00 + 26.00."""
    return synth_doc(lines=(SynthLine(), SynthLine(name="*办公用品*打印纸", amount=Decimal("200.00"),
                                                 tax_rate=Decimal("0.13"), unit="箱")))


@pytest.fixture
def organisation():
    return Organisation(name=BUYER_NAME, tax_id=BUYER_TAX_ID)


@pytest.fixture
def policy():
    return policy_from_settings(POLICY_SETTINGS)


@pytest.fixture
def ctx(organisation, policy):
    return RulesContext(today=TODAY, organisation=organisation, category="office", policy=policy)
