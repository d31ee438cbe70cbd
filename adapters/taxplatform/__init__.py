"""Tax platform adapters: 查验 (invoice check) and 入账标识 (posting status).

    taxplatform.backend = invoice_archive_adapters.taxplatform.http.HttpTaxPlatform
    from invoice_archive_adapters.testing.fakes.taxplatform import FakeTaxPlatform   # tests and demos

The port (ITaxPlatform, CheckQuery, CheckResult, PostingStatus, ...) is in
:mod:`invoice_archive.ports.taxplatform`.
"""
