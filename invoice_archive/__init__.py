"""invoice-archive: e-invoice reimbursement, posting and paperless archiving (电子发票报销入账归档)."""
from __future__ import annotations

from importlib.metadata import version
from typing import Any

__version__ = version("invoice-archive")   # setup.cfg is the one place it is written


def main(global_config: dict[str, Any], **settings: Any):  # type: ignore[no-untyped-def]
    """Paste app factory (`pyramid.paster.get_app(ini)` and pserve use this)."""
    from invoice_archive.config import configure

    settings.setdefault("here", global_config.get("here"))
    return configure(settings).make_wsgi_app()
