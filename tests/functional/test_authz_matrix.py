"""The authorization matrix (docs/authorization.md) is the running configuration's,
and the service answers every API cell as it says: a role without the
permission gets 403 whatever it sends; a role with it is never refused for its
role, and an id that is not in its organisation is a 404."""
from __future__ import annotations

import re

import pytest

from invoice_archive.views.authz import PUBLIC, markdown, matrix
from tests.support.db import PROJECT

ROLE_OF = {"finance": "张经办", "approver": "李审核", "accounting_system": "总账系统", "auditor": "王审计",
           "archivist": "赵档案", "admin": "管理员"}


def _config(tmp_path):
    from invoice_archive.config import configure

    return configure({"sqlalchemy.url": f"sqlite:///{tmp_path}/authz.sqlite",
                      "archive.store_url": (tmp_path / "store").as_uri(), "here": str(tmp_path)})


def test_the_documented_matrix_is_the_configured_one(tmp_path):
    config = _config(tmp_path)
    try:
        current = markdown(matrix(config))
    finally:
        config.registry["invoice_archive.engine"].dispose()
    page = (PROJECT / "docs" / "authorization.md").read_text(encoding="utf-8")
    assert page == current, "docs/authorization.md is stale: invoice-archive authz-matrix > docs/authorization.md"


def test_every_api_cell_answers_as_the_matrix_says(service, tmp_path):
    config = _config(tmp_path)
    try:
        cells = [c for c in matrix(config) if c.pattern.startswith("/api/v1/") and c.permission != PUBLIC]
    finally:
        config.registry["invoice_archive.engine"].dispose()
    if "管理员" not in service.tokens:
        service.add_person("管理员", "admin")
    wrong = []
    for cell in cells:
        path = re.sub(r"\{[a-z_]+(:[^}]*)?\}", "987654", cell.pattern)
        for role, who in ROLE_OF.items():
            headers = {**service.headers(who), "Content-Type": "application/json"}
            r = service.app.request(path, method=cell.method, body=b"{}" if cell.method == "POST" else b"",
                                    headers=headers, expect_errors=True)
            allowed = cell.allowed(role)
            if not allowed and r.status_int != 403:
                wrong.append((cell.method, path, role, r.status, "should be 403"))
            if allowed and (r.status_int in (401, 403) or r.status_int >= 500):
                wrong.append((cell.method, path, role, r.status, "should be allowed"))
            if allowed and "987654" in path and r.status_int not in (400, 404, 415):
                wrong.append((cell.method, path, role, r.status, "a foreign id should be 404"))
    assert not wrong, wrong
