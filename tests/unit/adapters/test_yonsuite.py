"""The Yonyou BIP / YonSuite open-platform adapter against its fake: the contract suite,
the access-token flow and its signature."""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from invoice_archive_adapters.testing.contract import AccountingSystemContract, make_draft
from invoice_archive_adapters.testing.fakes import FakeServer
from invoice_archive_adapters.testing.fakes.yonsuite import YonSuiteFake
from invoice_archive_adapters.yonsuite import YonSuiteAdapter, auth
from invoice_archive.ports.accounting import AccountingError, Outcome, RemoteStatus


class TestYonSuite(AccountingSystemContract):
    adapter_class = YonSuiteAdapter

    @pytest.fixture
    def server(self):
        with FakeServer(YonSuiteFake()) as server:
            yield server

    def make_adapter(self, server: Any, **settings: Any) -> YonSuiteAdapter:
        return YonSuiteAdapter({"url": server.url, **server.app.credentials, **settings})

    def test_one_token_serves_many_calls(self, server, adapter):
        adapter.post(self.draft("IA-BX-2024-0031-v1"))
        adapter.post(self.draft("IA-BX-2024-0032-v1"))
        assert server.app.tokens_issued == 1 == adapter.tokens_fetched

    def test_an_expired_token_is_fetched_again_once(self, server, adapter):
        adapter.post(self.draft("IA-BX-2024-0031-v1"))
        server.app.expire_tokens()
        assert adapter.post(self.draft("IA-BX-2024-0032-v1")).status == Outcome.POSTED
        assert server.app.tokens_issued == 2 and len(server.vouchers) == 2

    def test_the_reference_is_in_the_header_field_and_read_back(self, server, adapter):
        result = adapter.post(self.draft())
        assert result.remote_status == RemoteStatus.SAVED
        [voucher] = server.vouchers
        assert voucher.external_ref == "IA-BX-2024-0031-v1"
        [add] = [r for r in server.app.requests if r["operation"] == "addVoucher"]
        assert add["method"] == "POST"


def test_the_signature_is_base64_hmac_sha256_of_the_sorted_parameters():
    params = {"timestamp": "1568098531823", "appKey": "41832a3d2df94989b500da6a22268747"}
    assert auth.string_to_sign(params) == "appKey41832a3d2df94989b500da6a22268747timestamp1568098531823"
    expected = base64.b64encode(hmac.new(b"secret", auth.string_to_sign(params).encode(), hashlib.sha256).digest())
    assert auth.signature(params, "secret") == expected.decode()
    signed = auth.token_params("k", "secret", 1568098531823)
    assert signed["signature"] == auth.signature({"appKey": "k", "timestamp": "1568098531823"}, "secret")


def test_a_wrong_secret_is_an_auth_failure_without_a_call():
    with FakeServer(YonSuiteFake()) as server:
        adapter = YonSuiteAdapter({"url": server.url, **server.app.credentials, "app_secret": "wrong"})
        with pytest.raises(AccountingError) as info:
            adapter.post(make_draft())
        assert info.value.code == "auth_failed" and not info.value.retryable
        assert "签名" in info.value.system_message
        assert [r["operation"] for r in server.app.requests] == ["getAccessToken"]


def test_the_gateway_is_found_from_the_tenant():
    with FakeServer(YonSuiteFake()) as server:
        adapter = YonSuiteAdapter({"tenant_id": server.app.tenant_id, "datacenter_url": server.url,
                                   **server.app.credentials})
        assert adapter.post(make_draft()).status == Outcome.POSTED
        assert [r["operation"] for r in server.app.requests][:2] == ["getGatewayAddress", "getAccessToken"]
        unknown = YonSuiteAdapter({"tenant_id": "nobody", "datacenter_url": server.url, **server.app.credentials})
        with pytest.raises(AccountingError) as info:
            unknown.find_by_external_ref("IA-BX-2024-0031-v1")
        assert info.value.code == "configuration_error"


def test_a_draft_for_another_book_is_refused_before_sending():
    with FakeServer(YonSuiteFake()) as server:
        adapter = YonSuiteAdapter({"url": server.url, **server.app.credentials})
        result = adapter.post(make_draft(book="002"))
        assert result.status == Outcome.REJECTED and "accbook_code" in result.message
        assert server.vouchers == []
