"""features/posting: posting through each accounting system's fake, over the HTTP API
(the worker is the real `invoice-archive worker` loop, run once per step). The
accountants' work in Kingdee (审核, 过账) goes through the fake's WebAPI with Kingdee's
official Python SDK, signed as the accountant."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.support.invoices import synthetic_xml
from tests.support.journey import approve_claim, create_claim, post_invoice
from tests.support.posting import posting_rig

scenarios("posting/posting.feature")


@pytest.fixture
def rigs(db_url, tmp_path):
    """Started on demand by the first step, closed after the scenario."""
    opened = []
    yield opened
    for cm in opened:
        cm.__exit__(None, None, None)


@given(parsers.parse('单位使用记账系统"{system}"'), target_fixture="rig")
def uses_system(rigs, db_url, tmp_path, system: str):
    cm = posting_rig(system, db_url, tmp_path / "store")
    rig = cm.__enter__()
    rigs.append(cm)
    return rig


@given(parsers.parse('单位使用记账系统"{system}"，凭证在记账系统中过账后才算入账'), target_fixture="rig")
def uses_system_posted_when_posted(rigs, db_url, tmp_path, system: str):
    cm = posting_rig(system, db_url, tmp_path / "store", posted_when="posted")
    rig = cm.__enter__()
    rigs.append(cm)
    return rig


@given("报销单已审批通过")
def approved(rig, ctx) -> None:
    svc = rig.service
    inv = post_invoice(svc, synthetic_xml()).json
    ctx["claim"] = approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])
    ctx["invoice"] = inv


@given("记账系统保存凭证后回复超时")
def reply_lost(rig) -> None:
    rig.fake.fail_next("timeout_after_commit")


@given("入账程序已将凭证送入记账系统")
@when("入账程序运行")
@when("入账程序再次运行")
def worker_runs(rig) -> None:
    rig.worker().run_once()


def _claim(rig, ctx) -> dict:
    return rig.service.app.get(f"/api/v1/claims/{ctx['claim']['id']}", headers=rig.service.headers("王审计")).json


@then("记账系统中有且只有一张凭证，外部参考号为报销单的参考号")
def one_voucher(rig, ctx) -> None:
    [remote] = rig.fake.vouchers
    assert remote.external_ref == ctx["claim"]["posting"]["external_ref"]


@then(parsers.parse('报销单状态为"{status}"，发票关联到该凭证'))
def claim_posted(rig, ctx, status: str) -> None:
    claim = _claim(rig, ctx)
    assert claim["status"] == status
    inv = rig.service.app.get(f"/api/v1/invoices/{ctx['invoice']['id']}", headers=rig.service.headers("王审计")).json
    assert inv["status"] == "posted" and inv["voucher"]["id"] == claim["voucher"]["id"]


@when(parsers.parse('会计"{who}"以"{reason}"为由申请冲销该凭证'))
def ask_reversal(rig, ctx, who: str, reason: str) -> None:
    ctx["voucher_id"] = _claim(rig, ctx)["voucher"]["id"]
    rig.service.app.post_json(f"/api/v1/vouchers/{ctx['voucher_id']}/reverse", {"reason": reason},
                              headers=rig.service.headers(who), status=202)


@then("生成一张红字冲销凭证，金额为原凭证的负数")
def red_voucher(rig, ctx) -> None:
    auditor = rig.service.headers("王审计")
    original = rig.service.app.get(f"/api/v1/vouchers/{ctx['voucher_id']}", headers=auditor).json
    red = rig.service.app.get(f"/api/v1/vouchers/{original['reversed_by_id']}", headers=auditor).json
    assert red["red_flag"] is True
    assert Decimal(red["debit_total"]) == -Decimal(original["debit_total"])


@then(parsers.parse('报销单状态为"{status}"'))
def claim_status(rig, ctx, status: str) -> None:
    assert _claim(rig, ctx)["status"] == status


# -- the accountants in Kingdee, through its WebAPI with Kingdee's own SDK ----------------------

def _kingdee(rig, who: str):
    from k3cloud_webapi_sdk.main import K3CloudApiSdk

    credentials = rig.fake.app.credentials
    sdk = K3CloudApiSdk(rig.fake.url, timeout=10)
    sdk.InitConfig(credentials["acct_id"], who, credentials["app_id"], credentials["app_secret"], rig.fake.url)
    return sdk


def _voucher_in_kingdee(rig, ctx) -> list:
    ref = ctx["claim"]["posting"]["external_ref"]
    return json.loads(_kingdee(rig, "李会计").ExecuteBillQuery({
        "FormId": "GL_VOUCHER", "FieldKeys": "FVOUCHERID,FDocumentStatus,FPOSTED",
        "FilterString": f"F_IA_ExtRef = '{ref}'"}))


@then(parsers.parse('金蝶中有且只有一张凭证，外部参考号为报销单的参考号，状态为"{state}"'))
def one_kingdee_voucher(rig, ctx, state: str) -> None:
    [[ident, document_status, posted]] = _voucher_in_kingdee(rig, ctx)
    assert {"已保存": ("A", False), "已审核": ("C", False), "已过账": ("C", True)}[state] == (document_status, posted)
    assert len(rig.fake.vouchers) == 1
    ctx["kingdee_id"] = str(ident)


@then(parsers.parse('报销单仍在入账中，记账系统中的凭证"{shown}"'))
def still_posting(rig, ctx, shown: str) -> None:
    claim = _claim(rig, ctx)
    assert claim["status"] == "posting" and claim["voucher"] is None
    assert claim["posting"]["last_outcome"] == "awaiting" and shown in claim["posting"]["last_error"]
    inv = rig.service.app.get(f"/api/v1/invoices/{ctx['invoice']['id']}", headers=rig.service.headers("王审计")).json
    assert inv["status"] != "posted"


def _operate(rig, who: str, operation: str, ident: str, *args: str) -> None:
    sdk = _kingdee(rig, who)
    reply = getattr(sdk, operation)("GL_VOUCHER", *args, {"Ids": ident})
    assert json.loads(reply)["Result"]["ResponseStatus"]["IsSuccess"], reply


@when(parsers.parse('会计"{who}"在金蝶中审核该凭证'))
def accountant_audits(rig, ctx, who: str) -> None:
    _operate(rig, who, "Submit", ctx["kingdee_id"])
    _operate(rig, who, "Audit", ctx["kingdee_id"])


@when(parsers.parse('会计"{who}"在金蝶中将该凭证过账'))
def accountant_posts(rig, ctx, who: str) -> None:
    _operate(rig, who, "ExcuteOperation", ctx["kingdee_id"], "Post")   # the fake's posting operation


@then(parsers.parse('凭证的审核人和记账人都是金蝶中的"{who}"'))
def reviewed_and_posted_by(rig, ctx, who: str) -> None:
    claim = _claim(rig, ctx)
    voucher = rig.service.app.get(f"/api/v1/vouchers/{claim['voucher']['id']}", headers=rig.service.headers("王审计")).json
    assert (voucher["reviewed_by"], voucher["posted_by"]) == (who, who)
