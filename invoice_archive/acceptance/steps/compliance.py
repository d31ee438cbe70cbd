"""features/compliance: 查验 and its limits, 抬头, voided and red invoices, the amount in
words, and the 入账标识 sent back to the tax platform."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from pytest_bdd import given, parsers, then, when

from invoice_archive.acceptance.steps.common import Api, book, refusal
from invoice_archive.acceptance.words import OUTBOX_STATUS_LABELS, POSTING_STATE_LABELS, TAX_ANSWERS, code_for, label
from invoice_archive.ports.taxplatform import CHECK_STATUS_LABELS

REFUSED_BY_PLATFORM = {"voided", "red_reversed", "not_found", "mismatch"}


@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张抬头为"(?P<name>[^"]+)"（税号 (?P<tax_id>\w+)）的合成发票并以其创建报销单'))
def foreign_invoice(api: Api, harness: Any, ctx: dict, who: str, name: str, tax_id: str) -> None:
    file = harness.factory.xml(ctx["buyer"], buyer_name=name, buyer_tax_id=tax_id)
    ctx["invoice"] = api.received(file, who)
    ctx["response"] = api.create_claim([ctx["invoice"]["id"]], who, expect=None)


@given(parsers.re(r'税务平台查验一张本单位的合成发票，答复为「(?P<answer>[^」]+)」'))
def scripted_answer(harness: Any, ctx: dict, answer: str) -> None:
    ctx["file"] = file = harness.factory.xml(ctx["buyer"])
    platform = harness.tax_platform
    platform.register(dict(file.fields))
    platform.script(file.number, TAX_ANSWERS[answer])


@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传该发票并以其创建报销单'))
def upload_and_claim(api: Api, ctx: dict, who: str) -> None:
    ctx["invoice"] = api.received(ctx["file"], who)
    ctx["response"] = api.create_claim([ctx["invoice"]["id"]], who, expect=None)


@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张大写金额写错的合成发票并以其创建报销单'))
def wrong_words(api: Api, harness: Any, ctx: dict, who: str) -> None:
    ctx["invoice"] = api.received(harness.factory.xml(ctx["buyer"], words_wrong=True), who)
    ctx["response"] = api.create_claim([ctx["invoice"]["id"]], who, expect=None)


@then(parsers.re(r'报销单被拒绝，错误代码为"(?P<code>[^"]+)"(，未通过的规则包括"(?P<rule>[^"]+)")?'))
def claim_refused(ctx: dict, code: str, rule: str | None, evidence: Callable) -> None:
    resp = ctx["response"]
    err = refusal(resp)
    assert resp.status == 422 and err["code"] == code, f"应为 422 {code}，实际 {resp.status} {err['code']}：{err['message']}"
    if rule:
        assert rule in err["detail"]["failing_rules"], err["detail"]
    evidence("拒绝", err["message"])


@then(parsers.re(r'发票的规则检查报告中"(?P<code>[^"]+)"未通过'))
def rule_failed(api: Api, ctx: dict, code: str, evidence: Callable) -> None:
    inv = api.invoice(ctx["invoice"]["id"])
    found = [c for c in inv["rules"]["checks"] if c["code"] == code]
    assert found and found[0]["result"] == "fail" and found[0]["message"], found
    evidence(code, found[0]["message"])


# -- red invoices -------------------------------------------------------------------------------

@given(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张合成发票，报销单审批通过并已记入凭证'))
def reimbursed_and_posted(api: Api, harness: Any, ctx: dict, who: str, evidence: Callable) -> None:
    ctx["file"] = file = harness.factory.xml(ctx["buyer"])
    inv = api.received(file, who)
    claim = api.approve(api.create_claim([inv["id"]], who).json["id"], claimant=who)
    ctx["claim"], ctx["voucher"] = claim, book(api, harness, claim)
    evidence("记账凭证", ctx["voucher"]["display_number"])


@when("该发票的红字发票到达")
def red_arrives(api: Api, harness: Any, ctx: dict, evidence: Callable) -> None:
    red = harness.factory.xml(ctx["buyer"], red_of=ctx["file"].number)
    inv = api.received(red)
    evidence("红字发票", f"{inv['number']}，冲销 {inv['original_number']}")


@then('报销单显示"须冲销"提醒，并指明该凭证')
def alert_shown(api: Api, ctx: dict, evidence: Callable) -> None:
    claim = api.claim(ctx["claim"]["id"])
    assert claim["reversal_required"] is True, "报销单没有“须冲销”标记"
    number = ctx["voucher"]["display_number"]
    alerts = [a for a in claim["alerts"] if a["kind"] == "reversal_required"]
    assert alerts and number in alerts[0]["message"], claim["alerts"]
    evidence("提醒", alerts[0]["message"])


@then(parsers.re(r'审计日志中有该报销单的"(?P<action>[^"]+)"记录'))
def audit_has(api: Api, ctx: dict, action: str) -> None:
    events = api.events(object_type="claim", object_id=ctx["claim"]["number"])
    assert action in [e["action"] for e in events], [e["action"] for e in events]


# -- 查验: five a day, a year's window ----------------------------------------------------------

@given(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张合成的数电票，接收时已向税务平台查验一次'))
def checked_at_intake(api: Api, harness: Any, ctx: dict, who: str, evidence: Callable) -> None:
    inv = api.received(harness.factory.xml(ctx["buyer"]), who)
    ctx["invoice"] = inv
    assert inv["tax_check"] is not None and inv["tax_check"]["source"] != "local", \
        f"接收时应已向税务平台查验，实际：{inv['tax_check']}"
    evidence("接收时查验", f"{label(CHECK_STATUS_LABELS, inv['tax_check']['status'])}（{inv['tax_check']['checked_at']}）")


@when(parsers.re(r'经办人"(?P<who>[^"]+)"再请求查验该发票 (?P<n>\d+) 次'))
def ask_again(api: Api, ctx: dict, who: str, n: str) -> None:
    ctx["checks"] = [api.post(f"/api/v1/invoices/{ctx['invoice']['id']}/tax-check", who) for _ in range(int(n))]


@then(parsers.re(r'(?P<n>\d+) 次都得到税务平台的答复，并记入审计日志'))
def answered(api: Api, ctx: dict, n: str, evidence: Callable) -> None:
    statuses = [r.status for r in ctx["checks"]]
    assert statuses == [200] * int(n), [f"{r.status} {r.text[:200]}" for r in ctx["checks"] if r.status != 200]
    assert all(r.json["tax_check"]["source"] != "local" for r in ctx["checks"])
    logged = [e for e in api.events(object_type="invoice", object_id=str(ctx["invoice"]["id"]))
              if e["action"] == "invoice.tax_checked"]
    assert len(logged) == int(n), f"审计日志中应有 {n} 条查验记录，实际 {len(logged)}"
    evidence("查验", "；".join(r.json["tax_check"]["checked_at"] for r in ctx["checks"]))


@then(parsers.re(r'该请求被拒绝，错误代码为"(?P<code>[^"]+)"，并告知下次可以查验的时间'))
def budget_exhausted(ctx: dict, code: str, evidence: Callable) -> None:
    [resp] = ctx["checks"]
    err = refusal(resp)
    assert resp.status == 429 and err["code"] == code, f"应为 429 {code}，实际 {resp.status} {err['code']}"
    assert err["detail"]["next_allowed_at"] and "之后再查验" in err["message"], err
    evidence("拒绝", err["message"])


@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张一年多以前开具的合成数电票'))
def old_invoice(api: Api, harness: Any, ctx: dict, who: str) -> None:
    issued = dt.datetime.combine(harness.factory.today - dt.timedelta(days=400), dt.time(9, 0))
    ctx["file"] = file = harness.factory.xml(ctx["buyer"], issued=issued)
    ctx["response"] = api.upload(file, who)


@then(parsers.re(r'系统接收该发票，查验结果为「(?P<shown>[^」]+)」，未向税务平台查询'))
def not_checkable(ctx: dict, shown: str, evidence: Callable) -> None:
    resp = ctx["response"]
    assert resp.status == 201, resp.text[:400]
    ctx["invoice"] = inv = resp.json
    check = inv["tax_check"]
    assert check is not None, "发票没有查验记录"
    assert label(CHECK_STATUS_LABELS, check["status"]) == shown, check
    assert check["source"] == "local", f"超过查验期限的发票不应向税务平台查询，实际来源 {check['source']}"
    evidence("查验结果", f"{shown}（开票日期 {inv['issue_date']}）")


@then("发票没有被判为查验失败")
def not_failed(ctx: dict) -> None:
    inv = ctx["invoice"]
    assert inv["tax_status"] not in REFUSED_BY_PLATFORM, inv["tax_status"]


# -- 入账标识 ---------------------------------------------------------------------------------

@given(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张合成发票，报销单审批通过'))
def approved(api: Api, harness: Any, ctx: dict, who: str) -> None:
    ctx["file"] = file = harness.factory.xml(ctx["buyer"])
    ctx["invoice"] = inv = api.received(file, who)
    ctx["claim"] = api.approve(api.create_claim([inv["id"]], who).json["id"], claimant=who)


@given("税务平台收到下一条入账标识后答复超时")
def posting_reply_lost(harness: Any) -> None:
    harness.tax_platform.fail_next_posting("timeout_after_commit")


def _posting_status(api: Api, ctx: dict) -> list[dict[str, Any]]:
    return api.invoice(ctx["invoice"]["id"]).get("posting_status") or []


@then(parsers.re(r'发票的入账标识「(?P<state>[^」]+)」（入账期间为凭证所在年月）已送达税务平台'))
def posting_status_delivered(api: Api, harness: Any, ctx: dict, state: str, evidence: Callable) -> None:
    wanted = code_for(POSTING_STATE_LABELS, state, "入账标识")
    period = f"{ctx['voucher']['fiscal_year']}{ctx['voucher']['period']:02d}"

    def delivered() -> bool:
        return any(m["state"] == wanted and m["period"] == period and m["status"] == "done"
                   for m in _posting_status(api, ctx))

    harness.settle(delivered, "入账程序将入账标识送达税务平台")
    messages = _posting_status(api, ctx)
    assert delivered(), ("入账标识未送达：" + "；".join(
        f"{label(POSTING_STATE_LABELS, m['state'])} {m['period']} {label(OUTBOX_STATUS_LABELS, m['status'])}"
        f"（{m['last_error'] or m['last_outcome'] or ''}）" for m in messages) or "没有入账标识消息")
    sent = next(m for m in messages if m["state"] == wanted)
    ctx["posting_key"] = sent["idempotency_key"]
    evidence("入账标识", f"{state}，期间 {period}，{label(OUTBOX_STATUS_LABELS, sent['status'])}，"
                         f"幂等键 {sent['idempotency_key']}，尝试 {sent['attempts']} 次")


@then("税务平台只记录了一次该发票的入账标识，重发被认作同一条")
def recorded_once(harness: Any, ctx: dict, evidence: Callable) -> None:
    mine = [s for s in harness.tax_platform.postings if s.idempotency_key == ctx["posting_key"]]
    assert len(mine) == 1, f"税务平台记录了 {len(mine)} 条"
    assert mine[0].repeats >= 1, "入账标识没有被重发过：答复丢失的情形没有出现"
    evidence("税务平台", f"1 条记录，重发 {mine[0].repeats} 次被认作同一条")
