"""The acceptance run's own synthetic data: invoices made by the project's synthesizers
(数电票 XML, OFD, text PDF), signed by a synthetic SM2 PKI made for the run, and
voucher reports. Nothing is read from outside the package.

Every run draws a random run number, and every invoice, invoice code and voucher
number carries it, so that runs against the same deployment never collide (a
business key is unique per organisation, for good). Invoices are issued a few
days before the run, within the tax platform's window for 查验, and vouchers are
posted in the month the invoices were issued: the run's accounting period.
"""
from __future__ import annotations

import datetime as dt
import itertools
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

from invoice_archive.synth import ofd as synth_ofd
from invoice_archive.synth import pki as synth_pki
from invoice_archive.synth import xml as synth_xml
from invoice_archive.synth.pdfsign import sign_pdf
from invoice_archive.synth.textpdf import digital_invoice_lines, make_text_pdf

#: the standard anti-virus test string (EICAR): every scanner reports it, it harms nothing
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
#: China's time, in which invoices are dated and periods are counted
CHINA = dt.timezone(dt.timedelta(hours=8))


@dataclass(frozen=True)
class Buyer:
    """The organisation under test, as its 抬头 appears on an invoice."""

    name: str
    tax_id: str
    fonds_code: str


@dataclass(frozen=True)
class SynthFile:
    """An invoice file and what it says (the oracle the intake is compared with)."""

    data: bytes
    filename: str
    content_type: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def number(self) -> str:
        return str(self.fields["number"])

    @property
    def written_number(self) -> str:
        """The number as one finds it among all the deployment's invoices: code + number where
        there is a code (an 8-digit number alone is not unique across issuers)."""
        code = self.fields.get("code")
        return f"{code}{self.number}" if code else self.number


class Factory:
    """Synthetic invoices and vouchers for one run."""

    def __init__(self, run: int | None = None, *, today: dt.date | None = None,
                 pki: synth_pki.SynthPKI | None = None) -> None:
        self.run = secrets.randbelow(10**9) if run is None else run
        self._seq = itertools.count(1)
        self.today = today or dt.datetime.now(CHINA).date()
        self.issued = dt.datetime.combine(self.today - dt.timedelta(days=3), dt.time(10, 30))
        self._pki: synth_pki.SynthPKI | None = pki
        self._stranger: synth_pki.Identity | None = None

    # -- the run's accounting period -------------------------------------------------------
    @property
    def fiscal_year(self) -> int:
        return self.issued.year

    @property
    def period(self) -> int:
        return self.issued.month

    @property
    def voucher_date(self) -> dt.date:
        return self.issued.date()

    # -- numbers --------------------------------------------------------------------------
    def invoice_number(self) -> str:
        """A 20-digit 数电票 number: year 24, province 99 (not a real one), channel 2,
        the run (9 digits) and a sequence (6 digits)."""
        return f"24992{self.run:09d}{next(self._seq):06d}"

    def voucher_number(self) -> str:
        return f"{self.run % 10**6:06d}{next(self._seq) % 1000:03d}"

    def invoice_code(self) -> str:
        return f"099{self.run:09d}"

    # -- the PKI ----------------------------------------------------------------------------
    @property
    def pki(self) -> synth_pki.SynthPKI:
        """The run's SM2 PKI: a root, an intermediate, an invoice signer and a seal maker
        (made for the run, or kept between runs: ``invoice-archive acceptance --pki DIR``)."""
        if self._pki is None:
            self._pki = synth_pki.build_pki()
        return self._pki

    @property
    def stranger(self) -> synth_pki.Identity:
        """A signer under a root no trust store holds."""
        if self._stranger is None:
            self._stranger = synth_pki.issue("未受信任的合成签章者", self.pki.other_root)
        return self._stranger

    # -- invoices ---------------------------------------------------------------------------
    def xml(self, buyer: Buyer, *, number: str | None = None, issued: dt.datetime | None = None,
            red_of: str | None = None, special: bool = False, buyer_name: str | None = None,
            buyer_tax_id: str | None = None, words_wrong: bool = False, eicar: bool = False) -> SynthFile:
        """A 数电票 as XML (its TaxBureauSignature is a placeholder: 签名无法验证, as for a real one)."""
        inv = synth_xml.SynthInvoice(number=number or self.invoice_number(), issued=issued or self.issued,
                                     special=special, red_of=red_of, buyer_name=buyer_name or buyer.name,
                                     buyer_tax_id=buyer_tax_id or buyer.tax_id)
        data = synth_xml.build_xml_invoice(inv)
        if words_wrong:   # the amount in words no longer says the total
            right = synth_xml.rmb_words(inv.total).encode()
            data = data.replace(right, synth_xml.rmb_words(inv.total + 1).encode(), 1)
        if eicar:
            data = data.replace("合成示例发票，仅供演示与测试".encode(), EICAR, 1)
        sign = -1 if red_of else 1
        return SynthFile(data, f"dzfp_{inv.number}.xml", "application/xml", {
            "kind": "digital_special" if special else "digital_normal", "code": None, "number": inv.number,
            "issue_date": inv.issued.date().isoformat(), "amount_excl_tax": sign * inv.amount,
            "tax": sign * inv.tax, "total": sign * inv.total, "seller_name": inv.seller_name,
            "seller_tax_id": inv.seller_tax_id, "buyer_name": inv.buyer_name, "buyer_tax_id": inv.buyer_tax_id,
            "is_red": bool(red_of), "original_number": red_of})

    def ofd(self, buyer: Buyer, *, number: str | None = None, digital: bool = False, signer: str | None = "run",
            ) -> SynthFile:
        """An OFD invoice: an 增值税电子普通发票 (code + 8-digit number), or with ``digital`` the
        OFD of a 数电票 (20-digit number, no code). ``signer``: ``run`` (the run's PKI),
        ``stranger`` (a root nobody trusts) or None (unsigned, as the national platform's OFDs)."""
        if digital:
            fields = {"code": "", "number": number or self.invoice_number(), "kind_title": "电子发票（普通发票）"}
        else:
            fields = {"code": self.invoice_code(), "number": number or f"{next(self._seq):08d}"}
        spec = synth_ofd.SynthInvoice(buyer_name=buyer.name, buyer_tax_id=buyer.tax_id,
                                      issue_date=self.issued.date(), **fields)
        data = synth_ofd.build_ofd_invoice(spec)
        if signer is not None:
            who = self.stranger if signer == "stranger" else self.pki.signer
            seal = synth_pki.SealSpec(self.pki.seal_maker)
            data = synth_pki.sign_ofd(data, who, seal)
        return SynthFile(data, f"{spec.code or 'dzfp'}_{spec.number}.ofd", "application/ofd", {
            "kind": "vat_e_normal", "code": spec.code or None, "number": spec.number,
            "issue_date": spec.issue_date.isoformat(), "amount_excl_tax": spec.amount_excl_tax, "tax": spec.tax,
            "total": spec.total, "seller_name": spec.seller_name, "seller_tax_id": spec.seller_tax_id,
            "buyer_name": spec.buyer_name, "buyer_tax_id": spec.buyer_tax_id, "is_red": False,
            "original_number": None})

    def pdf(self, buyer: Buyer, *, signed: bool = True) -> SynthFile:
        """A 数电票 printed as a text PDF, signed (CMS over the /ByteRange) by the run's PKI."""
        number = self.invoice_number()
        data = make_text_pdf(digital_invoice_lines(number, buyer_name=buyer.name, buyer_tax_id=buyer.tax_id))
        if signed:
            when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
            data = sign_pdf(data, lambda content: synth_pki.signed_data(content, self.pki.signer, when, pkcs7=True))
        # what synth/textpdf.py prints on every such invoice, beside the number and the buyer
        return SynthFile(data, f"dzfp_{number}.pdf", "application/pdf", {
            "kind": "digital_normal", "number": number, "issue_date": "2024-03-15",
            "amount_excl_tax": Decimal("100.00"), "tax": Decimal("6.00"), "total": Decimal("106.00"),
            "seller_name": "测试销售方有限公司", "seller_tax_id": "91310000TESTSEL02Y",
            "buyer_name": buyer.name, "buyer_tax_id": buyer.tax_id})

    # -- a voucher the accounting system reports --------------------------------------------
    def voucher_report(self, claim: Mapping[str, Any], *, number: str | None = None,
                       word: str = "记") -> dict[str, Any]:
        total = Decimal(str(claim["total"]))
        summary = f"报销 {claim['title']}"
        return {
            "claim_number": claim["number"], "voucher_word": word, "voucher_number": number or self.voucher_number(),
            "fiscal_year": self.fiscal_year, "period": self.period, "date": self.voucher_date.isoformat(),
            "external_ref": None, "prepared_by": "张会计", "reviewed_by": "李主管", "posted_by": "王记账",
            "entries": [
                {"summary": summary, "account_code": "6602.01", "account_name": "管理费用-差旅费",
                 "debit": f"{total:.2f}", "credit": "0.00"},
                {"summary": summary, "account_code": "2241.01", "account_name": "其他应付款-员工",
                 "debit": "0.00", "credit": f"{total:.2f}"},
            ],
        }


__all__ = ["Buyer", "CHINA", "EICAR", "Factory", "SynthFile"]
