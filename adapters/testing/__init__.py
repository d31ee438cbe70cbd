"""Test doubles shipped with the adapters, for this project's tests, demos and anyone
writing or checking an adapter:

    invoice_archive_adapters.testing.fakes              fake accounting systems (generic JSON,
                                                        Kingdee K/3 Cloud, Yonyou U8) on 127.0.0.1
    invoice_archive_adapters.testing.fakes.taxplatform  the fake tax platform (查验, 入账标识)
    invoice_archive_adapters.testing.fakes.cli          `invoice-archive fake-accounting`
                                                        (also `python -m invoice_archive_adapters.testing.fakes`)
    invoice_archive_adapters.testing.fakes.taxplatform_cli  `invoice-archive fake-taxplatform`
    invoice_archive_adapters.testing.contract           the contract suite every IAccountingSystem passes

Nothing here imports pytest when it is imported (pytest is only in the test extra):
the contract suite is a plain class whose ``adapter`` fixture tests/unit/adapters/conftest.py adds.
"""
