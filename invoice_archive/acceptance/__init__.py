"""Acceptance for pilot evaluators (docs/acceptance.md): the zh-CN features of features/
run through the HTTP API only, against the in-process app (``make test``) or any
deployment (``invoice-archive acceptance --url ...``), with the run's own synthetic
data, and a report an evaluator can sign off: HTML in Chinese, cucumber JSON, JUnit
XML, the clause → scenario matrix, signed by the deployment's bundle key.

    client.py    the one way in: HTTP (httpx; WebTest in the test suite)
    cast.py      the features' people and the token file
    data.py      synthetic invoices (XML, OFD, PDF) signed by the run's own SM2 PKI
    harness.py   the deployment's configuration a scenario needs, and the world around it
    words.py     the Chinese words for the API's codes (the auditors' pages' vocabularies)
    steps/       the step definitions
    clauses.py   the regulations' clauses and the matrix
    report.py    the report (HTML, cucumber JSON, JUnit XML) and its SHA256SUMS
    plugin.py    the pytest plugin of a run against a URL (and the report's recorder)
    runner.py    ``invoice-archive acceptance``; verify.py ``invoice-archive verify-report``

Nothing here reads a database or an archive store: .importlinter forbids it.
"""
