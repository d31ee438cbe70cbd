"""The zh-CN acceptance features, shipped in the wheel as ``invoice_archive.features`` so that
``invoice-archive acceptance`` runs them against any deployment (docs/acceptance.md)."""
