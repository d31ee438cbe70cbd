"""The Kingdee K/3 Cloud adapter against its fake server, in both authentication styles."""
from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from invoice_archive_adapters.testing.contract import AccountingRecordsContract, AccountingSystemContract, make_draft
from invoice_archive_adapters.testing.fakes import FakeServer
from invoice_archive_adapters.testing.fakes.kingdee import K3CloudFake, parse_filter
from invoice_archive_adapters.kingdee import K3CloudAdapter, signing
from invoice_archive.ports.accounting import AccountingError, Outcome, RemoteStatus


class KingdeeContract(AccountingSystemContract, AccountingRecordsContract):
    adapter_class = K3CloudAdapter
    auth = "signature"
    accounts = ("6602.01", "2221.01.01", "1002")     # K/3 Cloud numbers accounts with dots

    @pytest.fixture
    def server(self):
        with FakeServer(K3CloudFake()) as server:
            yield server

    def make_adapter(self, server: Any, **settings: Any) -> K3CloudAdapter:
        return K3CloudAdapter({"url": server.url, "auth": self.auth, **server.app.credentials, **settings})


class TestKingdeeSignedHeaders(KingdeeContract):
    auth = "signature"

    def test_every_request_carries_the_sdk_headers(self, server, adapter):
        seen = {}
        original = adapter.wire.http.client.request

        def spy(method, url, **kw):
            seen.update(kw.get("headers") or {})
            return original(method, url, **kw)
        adapter.wire.http.client.request = spy
        adapter.post(self.draft())
        for name in ("X-Api-ClientID", "X-Api-Auth-Version", "x-api-timestamp", "x-api-nonce",
                     "x-api-signheaders", "X-Api-Signature", "X-Kd-Appkey", "X-Kd-Appdata", "X-Kd-Signature"):
            assert name in seen
        assert seen["X-Api-ClientID"] == "229973"
        assert base64.b64decode(seen["X-Kd-Appdata"]).decode() == "62f3c9b0acct,invoice-archive,2052,0"

    def test_a_wrong_secret_is_refused_as_msgcode_1(self, server):
        adapter = self.make_adapter(server, app_secret="wrong")
        with pytest.raises(AccountingError) as info:
            adapter.post(self.draft())
        assert info.value.code == "auth_failed"
        assert "会话信息已丢失" in info.value.system_message
        assert server.app.auth_failures == 1


class TestKingdeeSession(KingdeeContract):
    auth = "session"

    def test_one_login_serves_many_calls(self, server, adapter):
        adapter.post(self.draft("IA-BX-2024-0031-v1"))
        adapter.post(self.draft("IA-BX-2024-0032-v1"))
        assert server.app.logins == 1

    def test_an_old_session_is_renewed_before_it_expires(self, server):
        adapter = self.make_adapter(server, session_max_age=0)
        adapter.post(self.draft())
        adapter.find_by_external_ref("IA-BX-2024-0031-v1")
        assert server.app.logins >= 2

    def test_a_wrong_secret_fails_the_login(self, server):
        adapter = self.make_adapter(server, app_secret="wrong")
        with pytest.raises(AccountingError) as info:
            adapter.find_by_external_ref("IA-BX-2024-0031-v1")
        assert info.value.code == "auth_failed" and not info.value.retryable
        assert [r["service"] for r in server.app.requests] == ["LoginBySign"]


KD_ACCOUNTS = KingdeeContract.accounts


def test_the_external_ref_is_stored_in_the_custom_field():
    with FakeServer(K3CloudFake(external_ref_field="F_ABC_Ref")) as server:
        adapter = K3CloudAdapter({"url": server.url, **server.app.credentials})
        assert adapter.post(make_draft(accounts=KD_ACCOUNTS)).status == Outcome.POSTED
        [voucher] = server.vouchers
        assert voucher.external_ref == "IA-BX-2024-0031-v1"
        assert all("IA-BX" not in e.summary for e in voucher.entries)


def test_a_saved_voucher_is_read_back_as_saved_and_auto_audit_as_audited():
    with FakeServer(K3CloudFake()) as server:
        plain = K3CloudAdapter({"url": server.url, **server.app.credentials})
        assert plain.post(make_draft(accounts=KD_ACCOUNTS)).remote_status == RemoteStatus.SAVED
        audited = K3CloudAdapter({"url": server.url, "auto_audit": "true", **server.app.credentials})
        result = audited.post(make_draft("IA-BX-2024-0032-v1", accounts=KD_ACCOUNTS))
        assert result.remote_status == RemoteStatus.AUDITED
        assert [r["service"] for r in server.app.requests][-2:] == ["Save", "View"]   # read back
        assert audited.find_by_external_ref("IA-BX-2024-0032-v1").status == RemoteStatus.AUDITED


def test_plain_account_numbers_are_not_in_a_k3cloud_chart():
    """K/3 Cloud charts number accounts with dots; 660201 is another chart's number."""
    with FakeServer(K3CloudFake()) as server:
        adapter = K3CloudAdapter({"url": server.url, **server.app.credentials})
        result = adapter.post(make_draft(accounts=("660201", "22210101", "1002")))
        assert result.status == Outcome.REJECTED and "660201" in result.message
        parent = adapter.post(make_draft(accounts=("6602", "2221.01.01", "1002")))
        assert parent.status == Outcome.REJECTED and "不是明细科目" in parent.message
        assert server.vouchers == []


def test_signed_requests_keep_the_session_the_site_opens():
    """As the official SDK does: one session for the integration user, not a login per call;
    the nonce is the timestamp; the User-Agent starts with the SDK's product token."""
    with FakeServer(K3CloudFake()) as server:
        adapter = K3CloudAdapter({"url": server.url, **server.app.credentials})
        sent = []
        original = adapter.wire.http.client.request

        def spy(method, url, **kw):
            response = original(method, url, **kw)
            sent.append(response.request.headers)
            return response
        adapter.wire.http.client.request = spy
        adapter.post(make_draft(accounts=KD_ACCOUNTS))
        adapter.post(make_draft("IA-BX-2024-0032-v1", accounts=KD_ACCOUNTS))
        assert len(sent) >= 4 and server.app.sessions_opened == 1
        first, later = sent[0], sent[-1]
        assert "kdservice-sessionid" not in first
        assert later["kdservice-sessionid"] and "kdservice-sessionid=" in later["cookie"]
        assert all(h["x-api-nonce"] == h["x-api-timestamp"] for h in sent)
        assert all(h["user-agent"].startswith("Kingdee/Python WebApi SDK") for h in sent)


# -- reversal the way K/3 Cloud permits it -------------------------------------------------------

def _posted(server, adapter, ref="IA-BX-2024-0031-v1"):
    result = adapter.post(make_draft(ref, accounts=KD_ACCOUNTS))
    assert result.status == Outcome.POSTED
    return result


def test_a_voucher_not_yet_posted_is_withdrawn_not_reversed():
    with FakeServer(K3CloudFake()) as server:
        adapter = K3CloudAdapter({"url": server.url, **server.app.credentials})
        saved = _posted(server, adapter)
        result = adapter.reverse(saved.system_id, date=dt.date(2024, 7, 5), reason="发票开错",
                                 external_ref="IA-BX-2024-0031-v1-R")
        assert result.status == Outcome.POSTED and result.withdrawn
        assert "删除" in result.message
        assert server.vouchers == [] and [v.id for v in server.app.ledger.deleted] == [int(saved.system_id)]
        again = adapter.reverse(saved.system_id, date=dt.date(2024, 7, 5), reason="发票开错",
                                external_ref="IA-BX-2024-0031-v1-R")
        assert again.withdrawn and again.already_existed


def test_an_audited_voucher_is_unaudited_then_deleted():
    with FakeServer(K3CloudFake()) as server:
        adapter = K3CloudAdapter({"url": server.url, "auto_audit": "true", **server.app.credentials})
        audited = _posted(server, adapter)
        result = adapter.reverse(audited.system_id, date=dt.date(2024, 7, 5), reason="发票开错",
                                 external_ref="IA-BX-2024-0031-v1-R")
        assert result.withdrawn and "反审核并删除" in result.message
        services = [r["service"] for r in server.app.requests]
        assert services[-2:] == ["UnAudit", "Delete"]
        assert server.vouchers == []


def test_a_posted_voucher_is_reversed_with_a_red_voucher_never_deleted():
    with FakeServer(K3CloudFake()) as server:
        adapter = K3CloudAdapter({"url": server.url, **server.app.credentials})
        posted = _posted(server, adapter)
        server.app.audit_and_post(int(posted.system_id))
        result = adapter.reverse(posted.system_id, date=dt.date(2024, 7, 5), reason="发票开错",
                                 external_ref="IA-BX-2024-0031-v1-R")
        assert result.status == Outcome.POSTED and not result.withdrawn
        assert result.remote_status == RemoteStatus.SAVED        # the red voucher waits for the accountant too
        assert len(server.vouchers) == 2
        assert not {"UnAudit", "Delete"} & {r["service"] for r in server.app.requests}


def test_a_withdrawal_the_system_refuses_comes_back_with_its_words():
    with FakeServer(K3CloudFake()) as server:
        adapter = K3CloudAdapter({"url": server.url, "auto_audit": "true", **server.app.credentials})
        audited = _posted(server, adapter)
        server.close_period(2024, 6)
        result = adapter.reverse(audited.system_id, date=dt.date(2024, 7, 5), reason="发票开错",
                                 external_ref="IA-BX-2024-0031-v1-R")
        assert result.status == Outcome.REJECTED and result.code == "period_closed"
        assert "已结账" in result.message
        assert len(server.vouchers) == 1 and server.vouchers[0].status == "audited"


def test_login_sign_is_sha256_of_the_sorted_concatenation():
    import hashlib
    expected = hashlib.sha256("".join(sorted(["acct", "user", "app", "secret", "1700000000"])).encode()).hexdigest()
    assert signing.login_sign("acct", "user", "app", "secret", "1700000000") == expected


def test_signature_is_base64_of_the_hex_hmac():
    headers = signing.signed_headers("/K3Cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Save.common.kdsvc",
                                     acct_id="a", username="u", app_id="1_" + "A" * 32, app_secret="s",
                                     now=1700000000, nonce="n")
    assert headers["x-api-timestamp"] == "1700000000"
    decoded = base64.b64decode(headers["X-Kd-Signature"]).decode()
    assert len(decoded) == 64 and all(c in "0123456789abcdef" for c in decoded)
    assert signing.api_string_to_sign("/K3Cloud/x.kdsvc", "n", "1").startswith("POST\n%2FK3Cloud%2Fx.kdsvc\n\n")


@pytest.mark.parametrize("text, row, expected", [
    ("F_IA_ExtRef = 'IA-1'", {"F_IA_EXTREF": "IA-1"}, True),
    ("F_IA_ExtRef = 'IA-2'", {"F_IA_EXTREF": "IA-1"}, False),
    ("(FModifyDate >= '2024-06-01' or FPOSTDATE >= '2024-06-01') and FVOUCHERID = 5",
     {"FMODIFYDATE": "2024-05-01", "FPOSTDATE": "2024-06-02", "FVOUCHERID": 5}, True),
    ("FEXPLANATION like '%差旅%'", {"FEXPLANATION": "报销差旅费"}, True),
])
def test_the_fake_understands_filter_strings(text, row, expected):
    assert parse_filter(text)(lambda key: row.get(key.upper())) is expected


def test_the_fake_speaks_the_classic_session_protocol():
    """As an older client would: LoginBySign, then Save/View/Submit/Audit with ``parameters``."""
    import json
    import time

    import httpx

    stub = "Kingdee.BOS.WebApi.ServicesStub"
    with FakeServer(K3CloudFake()) as server, httpx.Client(base_url=server.url) as client:
        c = server.app.credentials
        ts = str(int(time.time()))
        sign = signing.login_sign(c["acct_id"], c["username"], c["app_id"], c["app_secret"], ts)
        login = client.post(f"/{stub}.AuthService.LoginBySign.common.kdsvc",
                            json={"parameters": [c["acct_id"], c["username"], c["app_id"], ts, sign, 2052]})
        assert login.json()["LoginResultType"] == 1
        assert client.cookies.get("kdservice-sessionid")
        model = {"FAccountBookID": {"FNumber": "001"}, "FDate": "2024-06-28", "FVOUCHERGROUPID": {"FNumber": "PRE001"},
                 "FEntity": [{"FEXPLANATION": "x", "FACCOUNTID": {"FNumber": "6602.02"}, "FDEBIT": 10, "FCREDIT": 0},
                             {"FEXPLANATION": "x", "FACCOUNTID": {"FNumber": "1002"}, "FDEBIT": 0, "FCREDIT": 10}]}
        saved = client.post(f"/{stub}.DynamicFormService.Save.common.kdsvc",
                            json={"parameters": ["GL_VOUCHER", json.dumps({"Model": model})]}).json()
        status = saved["Result"]["ResponseStatus"]
        assert status["IsSuccess"] and status["SuccessEntitys"][0]["Id"]
        ident = str(status["SuccessEntitys"][0]["Id"])
        view = client.post(f"/{stub}.DynamicFormService.View.common.kdsvc",
                           json={"formid": "GL_VOUCHER", "data": {"Id": ident}}).json()
        assert view["Result"]["Result"]["DocumentStatus"] == "A"
        for operation in ("Submit", "Audit"):
            done = client.post(f"/{stub}.DynamicFormService.{operation}.common.kdsvc",
                               json={"formid": "GL_VOUCHER", "data": {"Ids": ident}}).json()
            assert done["Result"]["ResponseStatus"]["IsSuccess"]
        rows = client.post(f"/{stub}.DynamicFormService.ExecuteBillQuery.common.kdsvc",
                           json={"data": {"FormId": "GL_VOUCHER", "FieldKeys": "FVOUCHERID,FDocumentStatus",
                                          "FilterString": f"FVOUCHERID = {ident}"}}).json()
        assert rows == [[int(ident), "C"]]  # header fields only: one row per voucher
        client.cookies.clear()
        lost = client.post(f"/{stub}.DynamicFormService.View.common.kdsvc",
                           json={"formid": "GL_VOUCHER", "data": {"Id": ident}}).json()
        assert lost["Result"]["ResponseStatus"]["MsgCode"] == 1
