"""The Kingdee fake checked against Kingdee's own client: the official Python SDK
(``kingdee.cdp.webapi.sdk``, ``k3cloud_webapi_sdk.main.K3CloudApiSdk``, test extra).

Two ways: the SDK drives the voucher's whole life by hand (as an integrator or an
accountant's script would), and the contract suite runs with the SDK as the adapter's
wire, so every request the adapter makes is built, signed and sent by Kingdee's code
(its headers, its nonce, its cookies and session, its JSON) and every reply is read
back through it.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("k3cloud_webapi_sdk", reason="the official Kingdee SDK is in the test extra "
                                                  "(pip install -e '.[test]')")
import requests  # noqa: E402  (the SDK's own HTTP library)
from k3cloud_webapi_sdk.main import K3CloudApiSdk  # noqa: E402

from invoice_archive_adapters.kingdee import K3CloudAdapter  # noqa: E402
from invoice_archive_adapters.kingdee.wire import LABEL  # noqa: E402
from invoice_archive_adapters.testing.fakes import FakeServer  # noqa: E402
from invoice_archive_adapters.testing.fakes.kingdee import K3CloudFake  # noqa: E402
from invoice_archive.ports.accounting import AccountingError, RemoteStatus  # noqa: E402
from tests.unit.adapters.test_kingdee import KingdeeContract  # noqa: E402


def official_sdk(url: str, credentials: dict[str, str], *, timeout: float = 5.0,
                 connect_timeout: float = 5.0) -> K3CloudApiSdk:
    sdk = K3CloudApiSdk(url, timeout=timeout)
    sdk.InitConfig(credentials["acct_id"], credentials["username"], credentials["app_id"],
                   credentials["app_secret"], url, connect_timeout=connect_timeout, request_timeout=timeout)
    return sdk


def _amounts_as_text(value: Any) -> Any:
    """What an SDK user does with Decimals (json.dumps cannot write them): text, never float."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return {k: _amounts_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_amounts_as_text(v) for v in value]
    return value


class SdkWire:
    """The adapter's wire made of the official SDK: ``Execute(service, body)``.

    The SDK tells a failure only by raising: a reply other than HTTP 200/206 is a
    RuntimeError carrying the body (no status code), a transport failure is one of
    requests' exceptions. They are told apart here as an SDK user has to.
    """

    def __init__(self, url: str, credentials: dict[str, str], *, timeout: float, connect_timeout: float) -> None:
        self.sdk = official_sdk(url, credentials, timeout=timeout, connect_timeout=connect_timeout)

    def close(self) -> None:
        pass

    def call(self, service: str, body: dict[str, Any]) -> Any:
        try:
            text = self.sdk.Execute(service, _amounts_as_text(body))
        except requests.exceptions.ConnectTimeout as exc:
            raise AccountingError("unreachable", f"无法连接{LABEL}：{exc}", retryable=True) from exc
        except requests.exceptions.ConnectionError as exc:
            reason = exc.args[0] if exc.args else None
            if "NewConnectionError" in repr(reason) or "Connection refused" in repr(reason):
                raise AccountingError("unreachable", f"无法连接{LABEL}：{exc}", retryable=True) from exc
            raise AccountingError("timeout_outcome_unknown", f"{LABEL}连接中断：{exc}", retryable=True) from exc
        except requests.exceptions.Timeout as exc:
            raise AccountingError("timeout_outcome_unknown", f"{LABEL}没有答复：{exc}", retryable=True) from exc
        except RuntimeError as exc:   # the SDK's "not 200": only the body is left
            text = str(exc)
            if "Service Unavailable" in text or "Too Many Requests" in text:
                raise AccountingError("busy", f"{LABEL}繁忙：{text}", retryable=True) from exc
            if "Not Found" in text:
                raise AccountingError("configuration_error", f"{LABEL}没有该接口：{text}") from exc
            raise AccountingError("timeout_outcome_unknown", f"{LABEL}处理出错：{text}", retryable=True) from exc
        return json.loads(text, parse_float=Decimal)


class TestKingdeeThroughTheOfficialSdk(KingdeeContract):
    """The whole contract suite, every request made by Kingdee's own SDK."""

    def make_adapter(self, server: Any, **settings: Any) -> K3CloudAdapter:
        options = {"url": server.url, **server.app.credentials, **settings}
        wire = SdkWire(options["url"], options, timeout=float(options.get("read_timeout", 5)),
                       connect_timeout=float(options.get("connect_timeout", 5)))
        return K3CloudAdapter(options, wire=wire)

    def test_the_sdk_holds_one_session(self, server, adapter):
        adapter.post(self.draft("IA-BX-2024-0031-v1"))
        adapter.post(self.draft("IA-BX-2024-0032-v1"))
        assert len(server.app.requests) >= 6 and server.app.sessions_opened == 1


# -- the voucher's life, driven by the SDK by hand ------------------------------------------------

def _model(ref: str, account: str = "6602.01", amount: Any = "526.00") -> dict[str, Any]:
    return {"FVOUCHERID": 0, "FAccountBookID": {"FNumber": "001"}, "FDate": "2024-06-28", "FYEAR": 2024,
            "FPERIOD": 6, "FVOUCHERGROUPID": {"FNumber": "PRE001"}, "F_IA_ExtRef": ref,
            "FEntity": [{"FEXPLANATION": "报销差旅费", "FACCOUNTID": {"FNumber": account}, "FDEBIT": amount,
                         "FCREDIT": 0},
                        {"FEXPLANATION": "报销差旅费", "FACCOUNTID": {"FNumber": "1002"}, "FDEBIT": 0,
                         "FCREDIT": amount}]}


@pytest.fixture
def kd():
    with FakeServer(K3CloudFake()) as server:
        yield server, official_sdk(server.url, server.app.credentials)


def _status(reply: str) -> dict[str, Any]:
    return json.loads(reply)["Result"]["ResponseStatus"]


def test_the_login_page_lists_the_data_centre(kd):
    server, sdk = kd
    [centre] = json.loads(sdk.GetDataCenters())
    assert centre["Id"] == server.app.acct_id and centre["Name"]


def test_save_view_query_submit_audit_post(kd):
    server, sdk = kd
    saved = json.loads(sdk.Save("GL_VOUCHER", {"Model": _model("IA-Z001-BX-2024-0001-v1")}))
    status = saved["Result"]["ResponseStatus"]
    assert status["IsSuccess"] and status["MsgCode"] == 0
    ident = str(status["SuccessEntitys"][0]["Id"])

    view = json.loads(sdk.View("GL_VOUCHER", {"Id": ident}), parse_float=Decimal)["Result"]["Result"]
    assert view["DocumentStatus"] == "A" and view["POSTED"] is False
    assert view["F_IA_ExtRef"] == "IA-Z001-BX-2024-0001-v1"          # a custom field keeps its key
    assert [e["ACCOUNTID"]["Number"] for e in view["Entity"]] == ["6602.01", "1002"]
    assert view["Entity"][0]["DEBIT"] == Decimal("526.00")

    header = json.loads(sdk.ExecuteBillQuery({"FormId": "GL_VOUCHER", "FieldKeys": "FVOUCHERID,F_IA_ExtRef",
                                              "FilterString": "F_IA_ExtRef = 'IA-Z001-BX-2024-0001-v1'"}))
    assert header == [[int(ident), "IA-Z001-BX-2024-0001-v1"]]        # header fields: one row per voucher
    lines = json.loads(sdk.ExecuteBillQuery({"FormId": "GL_VOUCHER", "FieldKeys": "FVOUCHERID,FACCOUNTID.FNumber"}))
    assert lines == [[int(ident), "6602.01"], [int(ident), "1002"]]  # an entry field: one row per entry
    as_json = json.loads(sdk.BillQuery({"FormId": "GL_VOUCHER", "FieldKeys": "FVOUCHERID,FDocumentStatus"}))
    assert as_json == [{"FVOUCHERID": int(ident), "FDocumentStatus": "A"}]

    assert _status(sdk.Audit("GL_VOUCHER", {"Ids": ident}))["MsgCode"] == 12      # not submitted yet
    assert _status(sdk.Submit("GL_VOUCHER", {"Ids": ident}))["IsSuccess"]
    assert _status(sdk.Audit("GL_VOUCHER", {"Ids": ident}))["IsSuccess"]
    refused = _status(sdk.Delete("GL_VOUCHER", {"Ids": ident}))
    assert not refused["IsSuccess"] and refused["MsgCode"] == 12 and "已审核" in refused["Errors"][0]["Message"]
    assert _status(sdk.ExcuteOperation("GL_VOUCHER", "Post", {"Ids": ident}))["IsSuccess"]
    assert json.loads(sdk.ExecuteBillQuery({"FormId": "GL_VOUCHER", "FieldKeys": "FDocumentStatus,FPOSTED"})) \
        == [["C", True]]
    assert [v.status for v in server.vouchers] == ["posted"]

    posted = _status(sdk.UnAudit("GL_VOUCHER", {"Ids": ident}))
    assert not posted["IsSuccess"] and "反过账" in posted["Errors"][0]["Message"]
    assert _status(sdk.ExcuteOperation("GL_VOUCHER", "UnPost", {"Ids": ident}))["IsSuccess"]
    assert _status(sdk.UnAudit("GL_VOUCHER", {"Ids": ident}))["IsSuccess"]
    view = json.loads(sdk.View("GL_VOUCHER", {"Id": ident}))["Result"]["Result"]
    assert view["DocumentStatus"] == "D"
    assert _status(sdk.Delete("GL_VOUCHER", {"Ids": ident}))["IsSuccess"]
    assert server.vouchers == []
    gone = _status(sdk.View("GL_VOUCHER", {"Id": ident}))
    assert not gone["IsSuccess"] and gone["MsgCode"] == 10
    assert server.app.sessions_opened == 1


def test_a_batch_succeeds_and_fails_voucher_by_voucher(kd):
    server, sdk = kd
    ids = [str(json.loads(sdk.Save("GL_VOUCHER", {"Model": _model(f"IA-Z001-BX-2024-000{n}-v1")}))["Result"]["Id"])
           for n in (1, 2)]
    sdk.Submit("GL_VOUCHER", {"Ids": ids[0]})
    status = _status(sdk.Audit("GL_VOUCHER", {"Ids": ",".join(ids)}))
    assert not status["IsSuccess"]
    assert [e["Id"] for e in status["SuccessEntitys"]] == [int(ids[0])]
    assert [e["DIndex"] for e in status["Errors"]] == [1]
    assert sorted(v.status for v in server.vouchers) == ["audited", "saved"]


def test_refusals_in_k3clouds_shape(kd):
    server, sdk = kd
    plain = _status(sdk.Save("GL_VOUCHER", {"Model": _model("IA-1", account="660201")}))
    assert not plain["IsSuccess"] and plain["ErrorCode"] == 500 and plain["MsgCode"] == 9
    assert "660201" in plain["Errors"][0]["Message"] and plain["Errors"][0]["FieldName"] == "FACCOUNTID"
    unbalanced = _model("IA-2")
    unbalanced["FEntity"][1]["FCREDIT"] = "525.00"
    status = _status(sdk.Save("GL_VOUCHER", {"Model": unbalanced}))
    assert status["MsgCode"] == 11 and "不平衡" in status["Errors"][0]["Message"]
    query = json.loads(sdk.ExecuteBillQuery({"FormId": "GL_VOUCHER", "FieldKeys": "FNoSuchField"}))
    assert query[0][0]["Result"]["ResponseStatus"]["MsgCode"] == 9
    assert server.vouchers == []


def test_a_wrong_secret_is_msgcode_1(kd):
    server, _ = kd
    sdk = official_sdk(server.url, {**server.app.credentials, "app_secret": "wrong"})
    status = _status(sdk.Save("GL_VOUCHER", {"Model": _model("IA-1")}))
    assert not status["IsSuccess"] and status["MsgCode"] == 1
    assert server.vouchers == [] and server.app.auth_failures == 1


def test_an_operation_the_site_lacks_is_a_404_the_sdk_raises(kd):
    server, sdk = kd
    with pytest.raises(RuntimeError):
        sdk.Execute("Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.NoSuchOperation", {"data": {}})


def test_the_adapter_reads_an_accountants_posting_through_the_sdk(kd):
    """The integration user saves; the accountant, signing as herself, audits and posts."""
    server, _ = kd
    accountant = official_sdk(server.url, {**server.app.credentials, "username": "李会计"})
    adapter = TestKingdeeThroughTheOfficialSdk().make_adapter(server)
    result = adapter.post(KingdeeContract().draft())
    assert result.remote_status == RemoteStatus.SAVED
    for operation in ("Submit", "Audit"):
        assert _status(getattr(accountant, operation)("GL_VOUCHER", {"Ids": result.system_id}))["IsSuccess"]
    assert adapter.find_by_external_ref("IA-BX-2024-0031-v1").status == RemoteStatus.AUDITED
    assert _status(accountant.ExcuteOperation("GL_VOUCHER", "Post", {"Ids": result.system_id}))["IsSuccess"]
    found = adapter.find_by_external_ref("IA-BX-2024-0031-v1")
    assert found.status == RemoteStatus.POSTED
    assert (found.preparer, found.reviewer, found.poster) == ("invoice-archive", "李会计", "李会计")


def test_a_user_the_app_does_not_authorise_is_refused(kd):
    server, _ = kd
    stranger = official_sdk(server.url, {**server.app.credentials, "username": "张三"})
    assert _status(stranger.Submit("GL_VOUCHER", {"Ids": "1"}))["MsgCode"] == 1
