"""features/posting: posting through the deployment's accounting system (in-process: each
system's fake, and one pass of the real worker per step; the accountants' work in
Kingdee goes through the fake's WebAPI with Kingdee's official Python SDK)."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Callable

from pytest_bdd import given, parsers, then, when

from invoice_archive.acceptance import harness as needs
from invoice_archive.acceptance.steps.common import Api, claim_status_is
from invoice_archive.acceptance.words import POSTED_WHEN_LABELS, SYSTEM_LABELS, code_for, label

#: the adapters' own names (a page's word may name more than one code: 通用接口)
ADAPTERS = ("kingdee", "u8", "yonsuite", "generic_json")


def system_code(shown: str) -> str:
    codes = [c for c in ADAPTERS if SYSTEM_LABELS.get(c) == shown]
    assert codes, f"「{shown}」不是记账系统（可用：{'、'.join(SYSTEM_LABELS[c] for c in ADAPTERS)}）"
    return codes[0]


@given(parsers.re(r'单位使用记账系统「(?P<shown>[^」]+)」，凭证(?P<when>保存|审核|过账)(即|才)算入账'))
def uses_system(harness: Any, ctx: dict, shown: str, when: str, evidence: Callable) -> None:
    system = system_code(shown)
    harness.require(needs.accounting(system, code_for(POSTED_WHEN_LABELS, when, "凭证状态")))
    ctx["system"] = system
    evidence("记账系统", f"{shown}（{system}），凭证{when}即算入账")


@given("记账系统由验收程序操控")
def scripted_accounting(harness: Any) -> None:
    harness.require(needs.scripted_accounting())


@given("报销单已审批通过")
def approved(api: Api, harness: Any, ctx: dict, evidence: Callable) -> None:
    ctx["invoice"] = inv = api.received(harness.factory.xml(ctx["buyer"]))
    ctx["claim"] = claim = api.approve(api.create_claim([inv["id"]]).json["id"])
    ctx["awaiting"] = lambda: api.claim(claim["id"])["status"] not in ("approved", "posting")
    evidence("报销单", claim["number"])


@given("记账系统保存凭证后回复超时")
def reply_lost(harness: Any) -> None:
    harness.accounting.fail_next("timeout_after_commit")


@then("记账系统中有且只有一张凭证，外部参考号为报销单的参考号")
def one_voucher(api: Api, harness: Any, ctx: dict, evidence: Callable) -> None:
    ref = api.claim(ctx["claim"]["id"])["posting"]["external_ref"]
    [remote] = harness.accounting.vouchers
    assert remote.external_ref == ref, (remote.external_ref, ref)
    evidence("记账系统中的凭证", f"1 张，外部参考号 {ref}")


@then(parsers.re(r'报销单状态为「(?P<shown>[^」]+)」，发票关联到该凭证'))
def claim_posted(api: Api, ctx: dict, shown: str, evidence: Callable) -> None:
    claim = api.claim(ctx["claim"]["id"])
    claim_status_is(claim, shown)
    inv = api.invoice(ctx["invoice"]["id"])
    assert inv["status"] == "posted" and inv["voucher"]["id"] == claim["voucher"]["id"], (inv["status"], inv["voucher"])
    ctx["voucher"] = api.voucher(claim["voucher"]["id"])
    evidence("记账凭证", f"{ctx['voucher']['display_number']}，外部参考号 {ctx['voucher']['external_ref']}")


@then(parsers.re(r'凭证的外部参考号即报销单的参考号，来源系统为「(?P<shown>[^」]+)」'))
def voucher_ref(api: Api, ctx: dict, shown: str) -> None:
    claim, voucher = api.claim(ctx["claim"]["id"]), ctx["voucher"]
    assert voucher["external_ref"] == claim["posting"]["external_ref"], (voucher["external_ref"], claim["posting"])
    assert label(SYSTEM_LABELS, voucher["source_system"]) == shown, voucher["source_system"]


@when(parsers.re(r'会计"(?P<who>[^"]+)"以"(?P<reason>[^"]+)"为由申请冲销该凭证'))
def ask_reversal(api: Api, ctx: dict, who: str, reason: str, evidence: Callable) -> None:
    claim = api.claim(ctx["claim"]["id"])
    assert claim["voucher"], f"报销单 {claim['number']} 尚未入账"
    ctx["voucher_id"] = claim["voucher"]["id"]
    api.post(f"/api/v1/vouchers/{ctx['voucher_id']}/reverse", who, {"reason": reason}, expect=202)
    ctx["awaiting"] = lambda: api.voucher(ctx["voucher_id"])["reversed_by_id"] is not None
    evidence("冲销申请", f"{claim['voucher']['number']}：{reason}")


@then("生成一张红字冲销凭证，金额为原凭证的负数")
def red_voucher(api: Api, ctx: dict, evidence: Callable) -> None:
    original = api.voucher(ctx["voucher_id"])
    assert original["reversed_by_id"], f"凭证 {original['display_number']} 没有红字冲销凭证"
    red = api.voucher(original["reversed_by_id"])
    assert red["red_flag"] is True and red["reverses_id"] == original["id"]
    assert Decimal(red["debit_total"]) == -Decimal(original["debit_total"])
    evidence("红字冲销凭证", f"{red['display_number']}，借方合计 {red['debit_total']}")


@then(parsers.re(r'报销单状态为「(?P<shown>[^」]+)」'))
def claim_status(api: Api, ctx: dict, shown: str) -> None:
    claim_status_is(api.claim(ctx["claim"]["id"]), shown)


# -- the accountants in Kingdee, through its WebAPI with Kingdee's own SDK ----------------------

def _kingdee(harness: Any, who: str) -> Any:
    from k3cloud_webapi_sdk.main import K3CloudApiSdk

    fake = harness.accounting
    credentials = fake.app.credentials
    sdk = K3CloudApiSdk(fake.url, timeout=10)
    sdk.InitConfig(credentials["acct_id"], who, credentials["app_id"], credentials["app_secret"], fake.url)
    return sdk


def _voucher_in_kingdee(api: Api, harness: Any, ctx: dict) -> list:
    ref = api.claim(ctx["claim"]["id"])["posting"]["external_ref"]
    return json.loads(_kingdee(harness, "李会计").ExecuteBillQuery({
        "FormId": "GL_VOUCHER", "FieldKeys": "FVOUCHERID,FDocumentStatus,FPOSTED",
        "FilterString": f"F_IA_ExtRef = '{ref}'"}))


@then(parsers.re(r'金蝶中有且只有一张凭证，外部参考号为报销单的参考号，状态为"(?P<state>[^"]+)"'))
def one_kingdee_voucher(api: Api, harness: Any, ctx: dict, state: str, evidence: Callable) -> None:
    [[ident, document_status, posted]] = _voucher_in_kingdee(api, harness, ctx)
    assert {"已保存": ("A", False), "已审核": ("C", False), "已过账": ("C", True)}[state] == (document_status, posted)
    assert len(harness.accounting.vouchers) == 1
    ctx["kingdee_id"] = str(ident)
    evidence("金蝶凭证", f"{ident}：{state}")


@then(parsers.re(r'报销单仍在入账中，记账系统中的凭证"(?P<shown>[^"]+)"'))
def still_posting(api: Api, ctx: dict, shown: str) -> None:
    claim = api.claim(ctx["claim"]["id"])
    assert claim["status"] == "posting" and claim["voucher"] is None, claim["status"]
    assert claim["posting"]["last_outcome"] == "awaiting" and shown in claim["posting"]["last_error"], claim["posting"]
    assert api.invoice(ctx["invoice"]["id"])["status"] != "posted"


def _operate(harness: Any, who: str, operation: str, ident: str, *args: str) -> None:
    reply = getattr(_kingdee(harness, who), operation)("GL_VOUCHER", *args, {"Ids": ident})
    assert json.loads(reply)["Result"]["ResponseStatus"]["IsSuccess"], reply


@when(parsers.re(r'会计"(?P<who>[^"]+)"在金蝶中审核该凭证'))
def accountant_audits(harness: Any, ctx: dict, who: str) -> None:
    _operate(harness, who, "Submit", ctx["kingdee_id"])
    _operate(harness, who, "Audit", ctx["kingdee_id"])


@when(parsers.re(r'会计"(?P<who>[^"]+)"在金蝶中将该凭证过账'))
def accountant_posts(harness: Any, ctx: dict, who: str) -> None:
    _operate(harness, who, "ExcuteOperation", ctx["kingdee_id"], "Post")   # the fake's posting operation


@then(parsers.re(r'凭证的审核人和记账人都是金蝶中的"(?P<who>[^"]+)"'))
def reviewed_and_posted_by(api: Api, ctx: dict, who: str) -> None:
    claim = api.claim(ctx["claim"]["id"])
    voucher = api.voucher(claim["voucher"]["id"])
    assert (voucher["reviewed_by"], voucher["posted_by"]) == (who, who), (voucher["reviewed_by"], voucher["posted_by"])
