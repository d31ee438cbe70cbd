"""features/audit: an auditor finds a voucher, takes its audit bundle away and checks it
offline; the audit log; the auditors' web pages, read as a person reads them."""
from __future__ import annotations

import io
import zipfile
from typing import Any, Callable
from urllib.parse import urlsplit

import lxml.html
from pytest_bdd import given, parsers, then, when

from invoice_archive.acceptance.steps.common import NUMBER_STYLES, Api, book
from invoice_archive.acceptance.words import CLAIM_STATUS_LABELS, ROLE_LABELS, SYSTEM_LABELS, code_for, label
from invoice_archive.bundle import verify_bundle


@given("一张合成发票已报销并入账为记账凭证")
def posted(api: Api, harness: Any, ctx: dict, evidence: Callable) -> None:
    ctx["file"] = file = harness.factory.xml(ctx["buyer"])
    inv = api.received(file)
    ctx["claim"] = claim = api.approve(api.create_claim([inv["id"]]).json["id"])
    ctx["voucher"] = voucher = book(api, harness, claim)
    evidence("发票", file.number)
    evidence("记账凭证", voucher["display_number"])


def _search(api: Api, ctx: dict, who: str, number: str) -> None:
    ctx["found"] = api.get("/api/v1/search/vouchers", who, params={"invoice_number": number}, expect=200).json


@when(parsers.re(r'审计人员"(?P<who>[^"]+)"按该发票号码查找凭证'))
def find(api: Api, ctx: dict, who: str) -> None:
    _search(api, ctx, who, ctx["file"].number)


@when(parsers.re(r'审计人员"(?P<who>[^"]+)"按该发票号码查找凭证，号码写作「(?P<style>[^」]+)」'))
def find_written(api: Api, ctx: dict, who: str, style: str, evidence: Callable) -> None:
    written = NUMBER_STYLES[style](ctx["file"].number)
    _search(api, ctx, who, written)
    evidence("查询写法", written)


@then(parsers.re(r"找到 (?P<count>\d+) 张凭证，即该记账凭证"))
def found(ctx: dict, count: str, evidence: Callable) -> None:
    got = ctx["found"]
    assert got["total"] == int(count), got
    assert [v["id"] for v in got["items"]] == [ctx["voucher"]["id"]], got["items"]
    evidence("找到", got["items"][0]["display_number"])


@when(parsers.re(r'审计人员"(?P<who>[^"]+)"下载该凭证的审计包，并取得服务公布的公钥'))
def download(api: Api, ctx: dict, who: str, evidence: Callable) -> None:
    ctx["voucher_id"] = ctx["found"]["items"][0]["id"]
    ctx["bundle"] = api.get(f"/api/v1/vouchers/{ctx['voucher_id']}/bundle", who, expect=200).body
    ctx["public_key"] = api.call("GET", "/api/v1/bundle-key", expect=200).body
    from invoice_archive.digests import sha256_hex

    evidence("审计包 SHA-256", sha256_hex(ctx["bundle"]))


@then("用公布的公钥离线核验审计包通过")
def verifies(ctx: dict, evidence: Callable) -> None:
    report = verify_bundle(ctx["bundle"], ctx["public_key"])
    assert report.status == "pass", report.to_text()
    evidence("离线核验", f"通过（{len(report.checks)} 项）")


@then("审计包中的原始发票与接收时的字节一致")
def original_kept(ctx: dict) -> None:
    with zipfile.ZipFile(io.BytesIO(ctx["bundle"])) as zf:
        assert zf.read("invoices/01/original.xml") == ctx["file"].data


@when(parsers.re(r'有人改动了审计包中的"(?P<path>[^"]+)"'))
def tamper(ctx: dict, path: str) -> None:
    with zipfile.ZipFile(io.BytesIO(ctx["bundle"])) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members[path] = members[path].replace("价税合计".encode(), "价税合讠".encode(), 1) \
        if "价税合计".encode() in members[path] else members[path] + b" "
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    ctx["bundle"] = buf.getvalue()


@then(parsers.re(r'离线核验不通过，并指明"(?P<path>[^"]+)"'))
def caught(ctx: dict, path: str, evidence: Callable) -> None:
    report = verify_bundle(ctx["bundle"], ctx["public_key"])
    assert report.status == "fail"
    assert path in {c.file for c in report.failed}, report.to_text()
    assert path in report.to_text()
    evidence("离线核验", "不通过：" + "；".join(c.detail for c in report.failed if c.file == path))


@then(parsers.re(r'审计日志记录了"(?P<who>[^"]+)"的查询"(?P<action>[^"]+)"'))
def search_logged(api: Api, ctx: dict, who: str, action: str, evidence: Callable) -> None:
    events = [e for e in api.events(object_type="search") if e["action"] == action]
    assert events and events[-1]["actor"] == api.name(who) and events[-1]["at"], events[-3:]
    evidence("审计日志", f"{events[-1]['at']} {events[-1]['actor']} {action}")


@then(parsers.re(r'审计日志记录了"(?P<who>[^"]+)"对该凭证的下载"(?P<action>[^"]+)"'))
def download_logged(api: Api, ctx: dict, who: str, action: str, evidence: Callable) -> None:
    events = [e for e in api.events(object_type="voucher", object_id=str(ctx["voucher_id"])) if e["action"] == action]
    assert [e["actor"] for e in events] == [api.name(who)], events
    evidence("审计日志", f"{events[0]['at']} {events[0]['actor']} {action}")


# -- the auditors' web pages ------------------------------------------------------------------------

class Browser:
    """A person at the auditors' pages: one cookie jar, forms posted as the page writes them."""

    def __init__(self, harness: Any) -> None:
        self.client = harness.client.session()
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.client.base_url))

    def get(self, path: str) -> Any:
        return self.client.request("GET", path)

    def sign_in(self, token: str) -> Any:
        page = self.get("/audit/")
        assert page.status == 200, page.status
        form = lxml.html.fromstring(page.body).forms[0]
        fields = {k: v for k, v in form.form_values()}
        fields["token"] = token
        return self.client.request("POST", urlsplit(form.action).path or "/audit/login", form=fields,
                                   headers={"Origin": self.origin, "Referer": f"{self.origin}/audit/"})


def page_text(resp: Any, xpath: str) -> list[str]:
    return [el.text_content().strip() for el in lxml.html.fromstring(resp.body).xpath(xpath)]


def has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


@when(parsers.re(r'审计人员"(?P<who>[^"]+)"登录审计网页，按该发票号码查找'))
def web_search(api: Api, harness: Any, ctx: dict, who: str) -> None:
    ctx["browser"] = browser = Browser(harness)
    signed_in = browser.sign_in(api.token(who))
    assert signed_in.status == 303, f"登录应转到查找页（303），实际 {signed_in.status}"
    ctx["page"] = browser.client.request("GET", "/audit/", params={"invoice_number": ctx["file"].number})


@then(parsers.re(r"查找结果中有该记账凭证，状态为「(?P<shown>[^」]+)」"))
def web_found(ctx: dict, shown: str, evidence: Callable) -> None:
    page = ctx["page"]
    assert page.status == 200 and page.content_type == "text/html", page.status
    doc = lxml.html.fromstring(page.body)
    href = f"/audit/vouchers/{ctx['voucher']['id']}"
    rows = [a.getparent().getparent() for a in doc.iter("a") if urlsplit(a.get("href", "")).path == href]
    assert rows, f"查找结果中没有凭证 {ctx['voucher']['display_number']}"
    row = rows[0].text_content()
    assert shown in row, f"查找结果应显示「{shown}」：{' '.join(row.split())}"
    assert ctx["voucher"]["display_number"] in row
    evidence("网页查找结果", " ".join(row.split()))


@when(parsers.re(r'审计人员"(?P<who>[^"]+)"在网页上打开该凭证'))
def web_open(ctx: dict, who: str) -> None:
    ctx["page"] = ctx["browser"].get(f"/audit/vouchers/{ctx['voucher']['id']}")
    assert ctx["page"].status == 200, ctx["page"].status


@then(parsers.re(r"页面以中文显示报销单状态「(?P<shown>[^」]+)」和凭证的来源系统"))
def web_voucher(ctx: dict, shown: str, evidence: Callable) -> None:
    page = ctx["page"]
    assert 'lang="zh-CN"' in page.text
    [status] = page_text(page, "//*[@id='claim-status']")
    assert status == shown and code_for(CLAIM_STATUS_LABELS, status, "报销单状态"), status
    [system] = page_text(page, "//*[@id='source-system']")
    assert system == label(SYSTEM_LABELS, ctx["voucher"]["source_system"]) and not system.isascii(), system
    evidence("凭证页面", f"报销单状态「{status}」，来源系统「{system}」")


@then(parsers.re(r'页面上的签核记录依次为"(?P<steps>[^"]+)"，签核人的角色依次为(?P<roles>(「[^」]+」)+)'))
def web_trail(api: Api, ctx: dict, steps: str, roles: str, evidence: Callable) -> None:
    import re

    doc = lxml.html.fromstring(ctx["page"].body)
    items = doc.xpath("//*[@id='trail']/li")
    got_steps = [li.xpath(".//strong")[0].text_content().strip() for li in items]
    got_roles = [li.xpath(f".//*[{has_class('role')}]")[0].text_content().strip() for li in items]
    assert "、".join(got_steps) == steps, got_steps
    wanted = re.findall(r"「([^」]+)」", roles)
    assert got_roles == wanted, got_roles
    for role in got_roles:
        code_for(ROLE_LABELS, role, "角色")
    people = [api.name(w) for w in ("张经办", "李审核", "陈审批")]
    assert all(p in li.text_content() for p, li in zip(people, items)), [li.text_content() for li in items]
    evidence("签核记录", "；".join(" ".join(li.text_content().split()) for li in items))


@then("从页面下载的审计包用公布的公钥离线核验通过")
def web_bundle(api: Api, ctx: dict, evidence: Callable) -> None:
    [link] = lxml.html.fromstring(ctx["page"].body).xpath("//*[@id='download']")
    resp = ctx["browser"].get(urlsplit(link.get("href")).path)
    assert resp.status == 200 and resp.content_type == "application/zip", resp.status
    key = api.call("GET", "/api/v1/bundle-key", expect=200).body
    report = verify_bundle(resp.body, key)
    assert report.status == "pass", report.to_text()
    evidence("网页下载的审计包", f"离线核验通过（{len(resp.body)} 字节）")


@when(parsers.re(r'经办人"(?P<who>[^"]+)"用自己的令牌登录审计网页'))
def web_wrong_role(api: Api, harness: Any, ctx: dict, who: str) -> None:
    ctx["page"] = Browser(harness).sign_in(api.token(who))


@then(parsers.re(r"页面状态为 403，页面以中文说明角色「(?P<role>[^」]+)」无权使用审计查询"))
def web_refused(ctx: dict, role: str, evidence: Callable) -> None:
    page = ctx["page"]
    assert page.status == 403 and page.content_type == "text/html", page.status
    assert f"（{role}）无权使用审计查询" in page.text, page.text[:500]
    evidence("页面", " ".join(page_text(page, f"//*[{has_class('error')}]") or ["403"]))


@when(parsers.re(r'审计人员"(?P<who>[^"]+)"登录审计网页，打开编号为 (?P<voucher_id>\d+) 的凭证'))
def open_missing(api: Api, harness: Any, ctx: dict, who: str, voucher_id: str) -> None:
    browser = Browser(harness)
    assert browser.sign_in(api.token(who)).status == 303
    ctx["page"] = browser.get(f"/audit/vouchers/{voucher_id}")


@then("页面状态为 404，页面以中文说明该页面不存在")
def chinese_404(ctx: dict) -> None:
    page = ctx["page"]
    assert page.status == 404 and page.content_type == "text/html", page.status
    assert "不存在" in page.text and 'lang="zh-CN"' in page.text
