"""What every feature shares: the scenario's state, the API as the steps use it, the
evidence a step records for the report, and the steps several features say alike.

Every step goes through :class:`Api` (HTTP, one of the people's tokens) or the
harness's world around the deployment; none reads a database or a store
(the import contract in .importlinter says so)."""
from __future__ import annotations

from typing import Any, Callable, Mapping

import pytest
from pytest_bdd import given, parsers, then, when

from invoice_archive.acceptance import harness as needs
from invoice_archive.acceptance.client import Response
from invoice_archive.acceptance.data import SynthFile
from invoice_archive.acceptance.words import CLAIM_STATUS_LABELS, label

class Api:
    """The deployment's HTTP API, as the features' people call it."""

    def __init__(self, harness: Any) -> None:
        self.harness = harness
        self._names: dict[str, str] = {}

    def token(self, who: str) -> str:
        token = self.harness.cast.token(who)
        if token is None:
            pytest.skip(self.harness.cast.missing(who))
        return token

    def call(self, method: str, path: str, who: str | None = None, *, json: Any = None, body: bytes | None = None,
             content_type: str | None = None, params: Mapping[str, Any] | None = None,
             expect: int | tuple[int, ...] | None = None) -> Response:
        r = self.harness.client.request(method, path, token=self.token(who) if who else None, json=json, body=body,
                                        content_type=content_type, params=params)
        wanted = (expect,) if isinstance(expect, int) else expect
        if wanted is not None and r.status not in wanted:
            raise AssertionError(f"{method} {path}（{who or '无令牌'}）应返回 {'/'.join(map(str, wanted))}，"
                                 f"实际 {r.status}：{r.text[:600]}")
        return r

    def get(self, path: str, who: str, **kw: Any) -> Response:
        return self.call("GET", path, who, **kw)

    def post(self, path: str, who: str, json: Any = None, **kw: Any) -> Response:
        return self.call("POST", path, who, json={} if json is None and "body" not in kw else json, **kw)

    def name(self, who: str) -> str:
        """The person a character's token belongs to, as the deployment records them."""
        if who not in self._names:
            self._names[who] = self.get("/api/v1/me", who, expect=200).json["name"]
        return self._names[who]

    # -- the journey, step by step ---------------------------------------------------------
    def upload(self, file: SynthFile, who: str = "张经办", *, expect: Any = None) -> Response:
        return self.call("POST", "/api/v1/invoices", who, body=file.data, content_type=file.content_type,
                         params={"filename": file.filename}, expect=expect)

    def received(self, file: SynthFile, who: str = "张经办") -> dict[str, Any]:
        return self.upload(file, who, expect=201).json

    def create_claim(self, invoice_ids: list[int], who: str = "张经办", *, expect: Any = 201,
                     title: str = "差旅费报销", category: str = "travel") -> Response:
        return self.call("POST", "/api/v1/claims", who, json={"title": title, "expense_category": category,
                                                              "invoice_ids": invoice_ids}, expect=expect)

    def claim(self, claim_id: int) -> dict[str, Any]:
        return self.get(f"/api/v1/claims/{claim_id}", "王审计", expect=200).json

    def invoice(self, invoice_id: int) -> dict[str, Any]:
        return self.get(f"/api/v1/invoices/{invoice_id}", "王审计", expect=200).json

    def voucher(self, voucher_id: int) -> dict[str, Any]:
        return self.get(f"/api/v1/vouchers/{voucher_id}", "王审计", expect=200).json

    def approve(self, claim_id: int, *, claimant: str = "张经办", reviewer: str = "李审核",
                approver: str = "陈审批") -> dict[str, Any]:
        """经办 (submit), 审核 (review) and 审批 (approve), by three people."""
        self.post(f"/api/v1/claims/{claim_id}/submit", claimant, expect=200)
        self.post(f"/api/v1/claims/{claim_id}/review", reviewer, {"comment": "票据齐全"}, expect=200)
        return self.post(f"/api/v1/claims/{claim_id}/approve", approver, {"comment": "同意"}, expect=200).json

    def events(self, **params: Any) -> list[dict[str, Any]]:
        found = self.get("/api/v1/audit/events", "王审计", params={"limit": "500", **params}, expect=200).json
        return found["items"]


def refusal(resp: Response) -> dict[str, Any]:
    """The error of a refusal (4xx with the API's error shape)."""
    assert 400 <= resp.status < 500, f"应被拒绝（4xx），实际 {resp.status}：{resp.text[:400]}"
    err = resp.json.get("error") if resp.content_type == "application/json" else None
    assert isinstance(err, dict) and err.get("code") and err.get("message"), f"拒绝没有错误代码与说明：{resp.text[:400]}"
    return err


@pytest.fixture
def ctx() -> dict[str, Any]:
    """What the scenario has done so far."""
    return {}


@pytest.fixture
def api(harness: Any) -> Api:
    return Api(harness)


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Callable[[str, Any], None]:
    """Record a piece of evidence (a 档号, a digest ...) for the report, under the current step."""
    items = request.node.stash.setdefault(_EVIDENCE, [])

    def record(what: str, value: Any) -> None:
        items.append((what, str(value)))

    return record


_EVIDENCE = pytest.StashKey[list]()


def evidence_of(node: Any) -> list[tuple[str, str]]:
    return node.stash.get(_EVIDENCE, [])


# -- what a deployment must be for a scenario ---------------------------------------------------

@given("发票抬头上的会计主体已开通服务")
def organisation_ready(harness: Any, ctx: dict, evidence: Callable) -> None:
    buyer = harness.buyer()
    ctx["buyer"] = buyer
    evidence("会计主体", f"{buyer.name}（税号 {buyer.tax_id}，全宗号 {buyer.fonds_code}）")


@given("合成的数电票可以报销")
def synthetic_claimable(harness: Any) -> None:
    harness.require(needs.synthetic_claimable())


@given("合成的签章发票可以报销")
def signed_claimable(harness: Any) -> None:
    harness.require(needs.signed_claimable())


@given("部署接入了税务平台")
def with_tax_platform(harness: Any) -> None:
    harness.require(needs.tax_platform())


@given("税务平台的答复由验收程序编排")
def scripted_platform(harness: Any) -> None:
    harness.require(needs.tax_platform())
    harness.require(needs.scripted_tax_platform())


@given("部署配置了病毒检测")
def with_virus_scanner(harness: Any) -> None:
    harness.require(needs.virus_scanner())


@given("部署配置了签名密钥")
def with_signing_key(harness: Any) -> None:
    harness.require(needs.signing_key())


@given("验收程序可以直接改动档案存储")
def with_store_access(harness: Any) -> None:
    harness.require(needs.store_access())


@given("验收程序可以在部署所在主机上运行并强行终止命令行")
def with_local_processes(harness: Any) -> None:
    harness.require(needs.local_processes())


# -- refusals ------------------------------------------------------------------------------------

@then(parsers.re(r'系统拒绝，错误代码为"(?P<code>[^"]+)"'))
def refused_with(ctx: dict, code: str, evidence: Callable) -> None:
    err = refusal(ctx["response"])
    assert err["code"] == code, f"错误代码应为 {code}，实际 {err['code']}：{err['message']}"
    evidence("拒绝", f"{ctx['response'].status} {err['code']}：{err['message']}")


@then("系统拒绝，返回 4xx 错误和错误代码")
def refused_4xx(ctx: dict, evidence: Callable) -> None:
    err = refusal(ctx["response"])
    assert err["code"] != "internal_error"
    evidence("拒绝", f"{ctx['response'].status} {err['code']}：{err['message']}")


@then("系统中没有留下该文件的任何记录")
def nothing_left(api: Api, ctx: dict, evidence: Callable) -> None:
    import hashlib

    sha = hashlib.sha256(ctx["sent"]).hexdigest()
    held = api.get(f"/api/v1/originals/{sha}", "王审计", expect=200).json
    assert held["invoice_id"] is None, f"拒收的文件留下了发票记录 {held['invoice_id']}"
    assert held["stored"] is False, "拒收的文件留在了档案存储中"
    evidence("未留下记录（SHA-256）", sha)


# -- claims ----------------------------------------------------------------------------------------

@then(parsers.re(r'报销单的签核记录依次为"(?P<steps>[^"]+)"'))
def signoffs(api: Api, ctx: dict, steps: str, evidence: Callable) -> None:
    claim = api.claim(ctx["claim"]["id"])
    got = "、".join(s["step"] for s in claim["signoffs"])
    assert got == steps, f"报销单 {claim['number']} 的签核记录应为「{steps}」，实际「{got}」"
    evidence("签核记录", "；".join(f"{s['step']} {s['actor']}" for s in claim["signoffs"]))


def claim_status_is(claim: Mapping[str, Any], wanted: str) -> None:
    shown = label(CLAIM_STATUS_LABELS, claim["status"])
    assert shown == wanted, f"报销单 {claim['number']} 的状态应为「{wanted}」，实际「{shown}」"


NUMBER_STYLES: Mapping[str, Callable[[str], str]] = {
    "四位一组、以空格分隔": lambda n: " ".join(n[i:i + 4] for i in range(0, len(n), 4)),
    "四位一组、以横线分隔": lambda n: "-".join(n[i:i + 4] for i in range(0, len(n), 4)),
    "全角数字": lambda n: n.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}),
    "全角数字、四位一组、以全角空格分隔": lambda n: "\u3000".join(
        n[i:i + 4] for i in range(0, len(n), 4)).translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}),
}


# -- posting: the accounting system reports the voucher, or the deployment's worker posts it ---------

def book(api: Api, harness: Any, claim: Mapping[str, Any], *, number: str | None = None,
         word: str = "记") -> dict[str, Any]:
    """Post an approved claim's voucher the way this deployment does: without an
    accounting backend the accounting system reports it (POST /api/v1/vouchers);
    with one, the deployment's worker posts it and the step waits for the claim."""
    if harness.profile().get("accounting_system") is None:
        report = harness.factory.voucher_report(claim, number=number, word=word)
        voucher = api.post("/api/v1/vouchers", "总账系统", report, expect=201).json
    else:
        harness.settle(lambda: api.claim(claim["id"])["status"] not in ("approved", "posting"),
                       "入账程序将凭证送入记账系统")
        now = api.claim(claim["id"])
        assert now["voucher"] is not None, (f"报销单 {now['number']} 未入账（状态「{label(CLAIM_STATUS_LABELS, now['status'])}」）："
                                            "部署的入账程序（invoice-archive worker）未在等待时间内入账")
        voucher = api.voucher(now["voucher"]["id"])
    return voucher


def settle_until(harness: Any, ctx: dict, what: str) -> None:
    """One pass of the deployment's worker (in-process), or wait for what the scenario awaits."""
    harness.settle(ctx.get("awaiting", lambda: True), what)


@given("入账程序已将凭证送入记账系统")
@when("入账程序运行")
@when("入账程序再次运行")
def worker_runs(harness: Any, ctx: dict) -> None:
    settle_until(harness, ctx, "入账程序（invoice-archive worker）处理发件箱")


@when("记账凭证入账")
def voucher_booked(api: Api, harness: Any, ctx: dict, evidence: Callable) -> None:
    ctx["voucher"] = voucher = book(api, harness, ctx["claim"])
    evidence("记账凭证", f"{voucher['display_number']}（{voucher['fiscal_year']}年{voucher['period']}月）")
