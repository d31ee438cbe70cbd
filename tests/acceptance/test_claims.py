"""features/claims: a claim is decided once, even when the decisions arrive together."""
from __future__ import annotations

from pytest_bdd import given, parsers, scenarios, then, when

from tests.support.invoices import synthetic_xml
from tests.support.journey import create_claim, post_invoice
from tests.support.race import http_race, outcome
from tests.support.server import serve

scenarios("claims/claims.feature")


def _claim(service, ctx) -> dict:
    return service.app.get(f"/api/v1/claims/{ctx['claim']['id']}", headers=service.headers("王审计")).json


@given(parsers.parse('经办人"{who}"以一张电子发票创建的报销单已经审核人"{reviewer}"审核'))
def reviewed_claim(service, ctx, who: str, reviewer: str) -> None:
    ctx["invoice"] = post_invoice(service, synthetic_xml(), "dzfp.xml", who=who).json
    claim = create_claim(service, [ctx["invoice"]["id"]], who=who).json
    service.app.post_json(f"/api/v1/claims/{claim['id']}/submit", {}, headers=service.headers(who))
    ctx["claim"] = service.app.post_json(f"/api/v1/claims/{claim['id']}/review", {"comment": "票据齐全"},
                                         headers=service.headers(reviewer)).json


@given(parsers.parse('审批人"{who}"已审批通过'))
def approved(service, ctx, who: str) -> None:
    service.app.post_json(f"/api/v1/claims/{ctx['claim']['id']}/approve", {"comment": "同意"},
                          headers=service.headers(who))


@when(parsers.parse('审批人"{who}"同时发出{n:d}次审批和{m:d}次退回'))
def approve_and_refuse_together(service, ctx, who: str, n: int, m: int) -> None:
    cid = ctx["claim"]["id"]
    requests = ([("POST", f"/api/v1/claims/{cid}/approve", service.headers(who), {"comment": "同意"})] * n
                + [("POST", f"/api/v1/claims/{cid}/refuse", service.headers(who), {"reason": "票据不全"})] * m)
    with serve(service.app.app, threads=n + m) as url:
        ctx["outcome"] = outcome(http_race(url, requests))


@then(parsers.parse('只有一次成功，其余{n:d}次被拒绝，错误代码为"{code}"'))
def one_winner(ctx, n: int, code: str) -> None:
    assert ctx["outcome"] == {200: 1, (409, code): n}, ctx["outcome"]


@then("报销单的签核记录中只有一条审批或退回")
def one_decision(service, ctx) -> None:
    steps = [s["step"] for s in _claim(service, ctx)["signoffs"]]
    assert steps[:2] == ["经办", "审核"] and len(steps) == 3 and steps[2] in ("审批", "退回"), steps


@then("发票的占用与报销单的结果一致")
def invoice_follows(service, ctx) -> None:
    claim = _claim(service, ctx)
    invoice = service.app.get(f"/api/v1/invoices/{ctx['invoice']['id']}", headers=service.headers("王审计")).json
    if claim["status"] == "approved":
        assert invoice["status"] == "claimed"
        create_claim(service, [invoice["id"]], status=409)        # held: no second claim
    else:
        assert claim["status"] == "refused" and invoice["status"] == "received"
        create_claim(service, [invoice["id"]], status=201)        # released: may be claimed again


@when(parsers.parse('审批人"{who}"再次审批该报销单'))
def approve_again(service, ctx, who: str) -> None:
    ctx["response"] = service.app.post_json(f"/api/v1/claims/{ctx['claim']['id']}/approve", {},
                                            headers=service.headers(who), status="*")


@when(parsers.parse('审核人"{who}"退回该报销单'))
def refuse_now(service, ctx, who: str) -> None:
    ctx["response"] = service.app.post_json(f"/api/v1/claims/{ctx['claim']['id']}/refuse", {"reason": "补充材料"},
                                            headers=service.headers(who), status="*")


@then(parsers.parse('该请求被拒绝，错误代码为"{code}"，提示当前状态为「{label}」'))
def refused_as(ctx, code: str, label: str) -> None:
    resp = ctx["response"]
    assert resp.status_int == 409, resp.text
    assert resp.json["error"]["code"] == code and f"「{label}」" in resp.json["error"]["message"]


@then(parsers.parse('报销单的签核记录依次为"{steps}"'))
def trail(service, ctx, steps: str) -> None:
    assert "、".join(s["step"] for s in _claim(service, ctx)["signoffs"]) == steps


# -- people, not token names ----------------------------------------------------------

@given(parsers.parse('"{who}"另持一张审批人令牌，令牌上的名字写作"{spelling}"'))
def second_token(service, ctx, who: str, spelling: str) -> None:
    ctx["alias"] = spelling
    service.add_person(spelling, "approver")


@when("持该令牌审批该报销单")
def approve_with_alias(service, ctx) -> None:
    ctx["response"] = service.app.post_json(f"/api/v1/claims/{ctx['claim']['id']}/approve", {},
                                            headers=service.headers(ctx["alias"]), status="*")


@then(parsers.parse('该请求被拒绝，错误代码为"{code}"'))
def refused_with(ctx, code: str) -> None:
    resp = ctx["response"]
    assert resp.status_int in (401, 403, 409), resp.text
    assert resp.json["error"]["code"] == code


@given(parsers.parse('审计人员"{who}"的令牌可以查询发票'))
def token_works(service, ctx, who: str) -> None:
    ctx["who"] = who
    service.app.get("/api/v1/invoices", headers=service.headers(who))


@when("管理员用命令行吊销该令牌")
def revoke_by_cli(service, ctx, monkeypatch) -> None:
    from invoice_archive.cli import main
    from invoice_archive.db import session_factory
    from invoice_archive.models import ApiToken

    with session_factory(service.engine)() as db:
        prefix = db.query(ApiToken).filter(ApiToken.name == ctx["who"]).one().prefix
    monkeypatch.setenv("DATABASE_URL", service.db_url)
    assert main(["token", "revoke", prefix]) == 0


@then(parsers.parse('该令牌再查询发票时被拒绝，错误代码为"{code}"'))
def refused_now(service, ctx, code: str) -> None:
    ctx["response"] = service.app.get("/api/v1/invoices", headers=service.headers(ctx["who"]), status="*")
    refused_with(ctx, code)
