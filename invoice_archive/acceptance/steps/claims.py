"""features/claims: a claim is decided once, even when decisions arrive together; 退回
with a reason; three different people; tokens issued and revoked by the administrator."""
from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable

from pytest_bdd import given, parsers, then, when

from invoice_archive.acceptance.client import Request
from invoice_archive.acceptance.steps.common import Api, claim_status_is, refusal
from invoice_archive.acceptance.words import INVOICE_STATUS_LABELS, label


def _new_claim(api: Api, harness: Any, ctx: dict, who: str) -> dict[str, Any]:
    ctx["invoice"] = api.received(harness.factory.xml(ctx["buyer"]), who)
    claim = api.create_claim([ctx["invoice"]["id"]], who).json
    return api.post(f"/api/v1/claims/{claim['id']}/submit", who, expect=200).json


@given(parsers.re(r'经办人"(?P<who>[^"]+)"以一张电子发票创建的报销单已经审核人"(?P<reviewer>[^"]+)"审核'))
def reviewed_claim(api: Api, harness: Any, ctx: dict, who: str, reviewer: str, evidence: Callable) -> None:
    claim = _new_claim(api, harness, ctx, who)
    ctx["claim"] = api.post(f"/api/v1/claims/{claim['id']}/review", reviewer, {"comment": "票据齐全"}, expect=200).json
    evidence("报销单", ctx["claim"]["number"])


@given(parsers.re(r'经办人"(?P<who>[^"]+)"以一张电子发票创建并提交了报销单'))
def submitted_claim(api: Api, harness: Any, ctx: dict, who: str, evidence: Callable) -> None:
    ctx["claim"] = _new_claim(api, harness, ctx, who)
    evidence("报销单", ctx["claim"]["number"])


@given(parsers.re(r'审批人"(?P<who>[^"]+)"已审批通过'))
def approved(api: Api, ctx: dict, who: str) -> None:
    api.post(f"/api/v1/claims/{ctx['claim']['id']}/approve", who, {"comment": "同意"}, expect=200)


@when(parsers.re(r'审批人"(?P<who>[^"]+)"同时发出(?P<n>\d+)次审批和(?P<m>\d+)次退回'))
def approve_and_refuse_together(api: Api, harness: Any, ctx: dict, who: str, n: str, m: str) -> None:
    cid, token = ctx["claim"]["id"], api.token(who)
    requests = ([Request("POST", f"/api/v1/claims/{cid}/approve", token, {"comment": "同意"})] * int(n)
                + [Request("POST", f"/api/v1/claims/{cid}/refuse", token, {"reason": "票据不全"})] * int(m))
    outcome: Counter = Counter()
    for r in harness.client.race(requests):
        outcome[(r.status, r.json["error"]["code"]) if r.status >= 400 else r.status] += 1
    ctx["outcome"] = outcome


@then(parsers.re(r'只有一次成功，其余(?P<n>\d+)次被拒绝，错误代码为"(?P<code>[^"]+)"'))
def one_winner(ctx: dict, n: str, code: str, evidence: Callable) -> None:
    assert ctx["outcome"] == {200: 1, (409, code): int(n)}, dict(ctx["outcome"])
    evidence("结果", f"成功 1 次，{code} {n} 次")


@then("报销单的签核记录中只有一条审批或退回")
def one_decision(api: Api, ctx: dict, evidence: Callable) -> None:
    steps = [s["step"] for s in api.claim(ctx["claim"]["id"])["signoffs"]]
    assert steps[:2] == ["经办", "审核"] and len(steps) == 3 and steps[2] in ("审批", "退回"), steps
    evidence("签核记录", "、".join(steps))


@then("发票的占用与报销单的结果一致")
def invoice_follows(api: Api, ctx: dict, evidence: Callable) -> None:
    claim = api.claim(ctx["claim"]["id"])
    invoice = api.invoice(ctx["invoice"]["id"])
    if claim["status"] == "approved":
        assert invoice["status"] == "claimed", invoice["status"]
        api.create_claim([invoice["id"]], expect=409)         # held: no second claim
    else:
        assert claim["status"] == "refused" and invoice["status"] == "received", (claim["status"], invoice["status"])
        api.create_claim([invoice["id"]], expect=201)         # released: may be claimed again
    evidence("发票状态", label(INVOICE_STATUS_LABELS, invoice["status"]))


@when(parsers.re(r'审批人"(?P<who>[^"]+)"再次审批该报销单'))
def approve_again(api: Api, ctx: dict, who: str) -> None:
    ctx["response"] = api.post(f"/api/v1/claims/{ctx['claim']['id']}/approve", who)


@when(parsers.re(r'审核人"(?P<who>[^"]+)"退回该报销单'))
def refuse_now(api: Api, ctx: dict, who: str) -> None:
    ctx["response"] = api.post(f"/api/v1/claims/{ctx['claim']['id']}/refuse", who, {"reason": "补充材料"})


@then(parsers.re(r'该请求被拒绝，错误代码为"(?P<code>[^"]+)"，提示当前状态为「(?P<shown>[^」]+)」'))
def refused_as(ctx: dict, code: str, shown: str, evidence: Callable) -> None:
    resp = ctx["response"]
    err = refusal(resp)
    assert resp.status == 409 and err["code"] == code, f"应为 409 {code}，实际 {resp.status} {err['code']}"
    assert f"「{shown}」" in err["message"], err["message"]
    evidence("拒绝", err["message"])


@then(parsers.re(r'该请求被拒绝，错误代码为"(?P<code>[^"]+)"'))
def refused_with_code(ctx: dict, code: str, evidence: Callable) -> None:
    resp = ctx["response"]
    err = refusal(resp)
    assert resp.status in (401, 403, 409) and err["code"] == code, f"应为 {code}，实际 {resp.status} {err['code']}"
    evidence("拒绝", err["message"])


# -- 退回 ------------------------------------------------------------------------------------------

@when(parsers.re(r'审核人"(?P<who>[^"]+)"不写理由退回该报销单'))
def refuse_without_reason(api: Api, ctx: dict, who: str) -> None:
    ctx["response"] = api.post(f"/api/v1/claims/{ctx['claim']['id']}/refuse", who, {})


@then(parsers.re(r'该请求被拒绝，报销单仍为「(?P<shown>[^」]+)」'))
def refused_unchanged(api: Api, ctx: dict, shown: str, evidence: Callable) -> None:
    err = refusal(ctx["response"])
    claim_status_is(api.claim(ctx["claim"]["id"]), shown)
    evidence("拒绝", f"{ctx['response'].status} {err['code']}：{err['message']}")


@when(parsers.re(r'审核人"(?P<who>[^"]+)"以"(?P<reason>[^"]+)"为由退回该报销单'))
def refuse_with_reason(api: Api, ctx: dict, who: str, reason: str) -> None:
    ctx["response"] = api.post(f"/api/v1/claims/{ctx['claim']['id']}/refuse", who, {"reason": reason}, expect=200)


@then(parsers.re(r'报销单状态为「(?P<shown>[^」]+)」，退回理由为"(?P<reason>[^"]+)"'))
def refused_claim(api: Api, ctx: dict, shown: str, reason: str, evidence: Callable) -> None:
    claim = api.claim(ctx["claim"]["id"])
    claim_status_is(claim, shown)
    assert claim["refusal_reason"] == reason, claim["refusal_reason"]
    evidence("退回", f"{claim['number']}：{reason}")


@then(parsers.re(r'发票状态为「(?P<shown>[^」]+)」，可以重新创建报销单'))
def released(api: Api, ctx: dict, shown: str, evidence: Callable) -> None:
    invoice = api.invoice(ctx["invoice"]["id"])
    assert label(INVOICE_STATUS_LABELS, invoice["status"]) == shown, invoice["status"]
    again = api.create_claim([invoice["id"]]).json
    evidence("重新报销", again["number"])


# -- people, not token names; tokens issued and revoked over the admin API ---------------------------

def _issue(api: Api, name: str, role: str) -> dict[str, Any]:
    return api.post("/api/v1/admin/tokens", "管理员", {"name": name, "role": role, "expires_days": 1},
                    expect=201).json


@given(parsers.re(r'管理员为"(?P<who>[^"]+)"另发一张审批人令牌，令牌上的名字写作"(?P<spelling>[^"]+)"'))
def second_token(api: Api, harness: Any, ctx: dict, who: str, spelling: str, evidence: Callable) -> None:
    # the person's own name as the deployment knows them, written the other way
    written = spelling.replace(who, api.name(who))
    issued = _issue(api, written, "approver")
    ctx["alias"] = alias = f"{who}（另一张令牌）"
    harness.cast.add(alias, issued["token"])
    evidence("令牌", f"{issued['prefix']}…（{issued['name']!r}，审批人），人员 {issued['person_id']}")


@when("持该令牌审批该报销单")
def approve_with_alias(api: Api, ctx: dict) -> None:
    ctx["response"] = api.post(f"/api/v1/claims/{ctx['claim']['id']}/approve", ctx["alias"])


@given(parsers.re(r'管理员为审计人员"(?P<who>[^"]+)"另发一张令牌，该令牌可以查询发票'))
def extra_auditor_token(api: Api, harness: Any, ctx: dict, who: str, evidence: Callable) -> None:
    issued = _issue(api, api.name(who), "auditor")
    ctx["issued"], ctx["holder"] = issued, f"{who}（临时令牌）"
    harness.cast.add(ctx["holder"], issued["token"])
    api.get("/api/v1/invoices", ctx["holder"], params={"limit": "1"}, expect=200)
    evidence("令牌", f"{issued['prefix']}…（{issued['name']}，审计人员）")


@when("管理员吊销该令牌")
def revoke(api: Api, ctx: dict, evidence: Callable) -> None:
    revoked = api.post(f"/api/v1/admin/tokens/{ctx['issued']['id']}/revoke", "管理员", expect=200).json
    assert revoked["revoked_at"], revoked
    evidence("吊销", revoked["revoked_at"])


@then(parsers.re(r'该令牌此后查询发票被拒绝，错误代码为"(?P<code>[^"]+)"'))
def refused_from_now(api: Api, ctx: dict, code: str, evidence: Callable) -> None:
    # in the process that revoked it at once; in a deployment's other processes within their identity
    # cache (5 seconds, invoice_archive/security.py): asked until then
    started, deadline = time.monotonic(), time.monotonic() + 10
    while True:
        resp = api.get("/api/v1/invoices", ctx["holder"], params={"limit": "1"})
        if resp.status != 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    err = refusal(resp)
    assert resp.status == 401 and err["code"] == code, f"应为 401 {code}，实际 {resp.status} {err['code']}"
    evidence("拒绝", f"吊销后 {time.monotonic() - started:.1f} 秒内：{err['message']}")
