"""One invoice line from its cells, named as in the e-invoice schemas
(``Item``, ``Specification``, ... ``TaxAmount``), whichever source gave them:
an ``original_invoice.xml`` record, a tag tree, or the printed page."""
from __future__ import annotations

from . import normalize as norm
from .model import LineItem

LINE_FIELDS = ("Item", "Specification", "MeasurementDimension", "Quantity", "Price", "Amount",
               "TaxScheme", "TaxAmount")


def line_from_cells(values: dict[str, str | None]) -> LineItem:
    rate_text = norm.text(values.get("TaxScheme"))
    return LineItem(
        name=norm.text(values.get("Item")),
        specification=norm.text(values.get("Specification")),
        unit=norm.text(values.get("MeasurementDimension")),
        quantity=norm.amount(values.get("Quantity")),
        unit_price=norm.amount(values.get("Price")),
        amount=norm.amount(values.get("Amount")),
        tax_rate=norm.rate(rate_text),
        tax=norm.amount(values.get("TaxAmount")),
        tax_rate_text=rate_text,
    )
