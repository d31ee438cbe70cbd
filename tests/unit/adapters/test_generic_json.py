"""The generic JSON adapter against its fake server."""
from __future__ import annotations

from typing import Any

import pytest

from invoice_archive_adapters.testing.contract import AccountingRecordsContract, AccountingSystemContract, make_draft
from invoice_archive_adapters.testing.fakes import FakeServer
from invoice_archive_adapters.testing.fakes.generic_json import GenericJsonFake
from invoice_archive_adapters.generic_json import GenericJsonAdapter
from invoice_archive.ports.accounting import AccountingError


class TestGenericJson(AccountingSystemContract, AccountingRecordsContract):
    adapter_class = GenericJsonAdapter

    @pytest.fixture
    def server(self):
        with FakeServer(GenericJsonFake(token="s3cret")) as server:
            yield server

    def make_adapter(self, server: Any, **settings: Any) -> GenericJsonAdapter:
        return GenericJsonAdapter({"url": server.url, "token": "s3cret", **settings})

    def test_the_external_ref_is_the_idempotency_key(self, server, adapter):
        adapter.post(make_draft())
        [request] = [r for r in server.app.requests if r["method"] == "POST"]
        assert request["idempotency_key"] == "IA-BX-2024-0031-v1"

    def test_a_wrong_token_is_an_auth_failure(self, server):
        adapter = GenericJsonAdapter({"accounting.url": server.url, "accounting.token": "wrong"})
        with pytest.raises(AccountingError) as info:
            adapter.post(make_draft())
        assert info.value.code == "auth_failed"

    def test_missing_settings_fail_at_construction(self):
        with pytest.raises(AccountingError) as info:
            GenericJsonAdapter({"accounting.url": "http://127.0.0.1:1"})
        assert info.value.code == "configuration_error"
        assert "accounting.token" in info.value.message

    def test_pull_changes_pages_through_everything(self, server):
        adapter = self.make_adapter(server, page_size=2)
        for n in range(5):
            adapter.post(make_draft(f"IA-BX-2024-00{n}0-v1"))
        changes, cursor = adapter.pull_changes(None)
        assert len(changes) == 5
        assert adapter.pull_changes(cursor) == ([], cursor)
