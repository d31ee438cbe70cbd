"""features/archive: archiving the run's period, the four-property check, DA/T 48 EEP,
transfer (移交) and appraisal (鉴定) over the API; the fixity audit and an interrupted
run where the harness can reach the storage and the processes."""
from __future__ import annotations

import base64
import datetime as dt
import io
import re
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest
from pytest_bdd import given, parsers, then, when

from invoice_archive.acceptance.steps.common import Api, book
from invoice_archive.archive.codes import voucher_class_code
from invoice_archive.archive.eep import NAMESPACE as EEP_NS, validate_eep, verify_eep
from invoice_archive.archive.transfer import check_transfer
from invoice_archive.digests import sha256_hex


def posted_voucher(api: Api, harness: Any, ctx: dict, *, eicar: bool = False) -> dict[str, Any]:
    """One invoice through the claim to a posted voucher in the run's period."""
    inv = api.received(harness.factory.xml(ctx["buyer"], eicar=eicar))
    claim = api.approve(api.create_claim([inv["id"]]).json["id"])
    voucher = book(api, harness, claim)
    ctx.setdefault("vouchers", []).append(voucher)
    return voucher


def volume_items(api: Api, harness: Any) -> list[dict[str, Any]]:
    f = harness.factory
    found = api.get("/api/v1/archive/items", "王审计", params={"fiscal_year": f.fiscal_year, "period": f.period,
                                                               "limit": 500}, expect=200).json
    return found["items"]


@given(parsers.re(r"本期已有(?P<n>两|一|\d+)张记账凭证入账"))
def vouchers_posted(api: Api, harness: Any, ctx: dict, n: str, evidence: Callable) -> None:
    count = {"一": 1, "两": 2}.get(n) or int(n)
    for _ in range(count):
        posted_voucher(api, harness, ctx)
    evidence("记账凭证", "、".join(v["display_number"] for v in ctx["vouchers"]))


@given("本期有一张记账凭证，其原始发票中含有病毒特征码")
def infected_voucher(api: Api, harness: Any, ctx: dict, evidence: Callable) -> None:
    voucher = posted_voucher(api, harness, ctx, eicar=True)
    evidence("含 EICAR 测试串的凭证", voucher["display_number"])


VIRUS_CHECKS = ("GD-4-1", "GD-4-2")


@given("部署的病毒检测无法执行时，档案员为本场景的凭证登记病毒检测豁免")
def waive_when_unscanned(ctx: dict) -> None:
    ctx["waive_unscanned"] = True     # decided when archiving: the scenario may still state its needs


def waive_virus_checks(api: Api, harness: Any, ctx: dict, evidence: Callable) -> None:
    """Where the deployment cannot scan, every item would wait for a waiver of the two virus
    checks (docs/archive-waivers.md): the archivist records one for each of this
    scenario's vouchers, saying why, as the scenario's Given step announced."""
    if not ctx.get("waive_unscanned"):
        return
    scanner = harness.profile().get("virus_scanner") or {}
    if scanner.get("configured"):
        return
    done = ctx.setdefault("waived", set())
    for voucher in ctx.get("vouchers", ()):
        if voucher["id"] in done:
            continue
        resp = api.post("/api/v1/archive/waivers", "赵档案", {
            "voucher_id": voucher["id"], "checks": list(VIRUS_CHECKS),
            "reason": f"验收运行：被测部署的病毒检测无法执行（{scanner.get('engine', '')}）"}, expect=(201, 409))
        done.add(voucher["id"])
        evidence("病毒检测豁免", f"{voucher['display_number']}：{'、'.join(VIRUS_CHECKS)}"
                 + ("" if resp.status == 201 else "（此前已登记）"))


def run_archive(api: Api, harness: Any, ctx: dict, who: str, year: int, period: int, evidence: Callable, *,
                settle_unsettled: bool = True, **extra: Any) -> Any:
    """POST /api/v1/archive/runs, after the waivers the scenario announced. A period held by
    someone else's posting still on its way (archive_period_unsettled) waits for the
    deployment's worker to settle it."""
    waive_virus_checks(api, harness, ctx, evidence)

    def post() -> Any:
        return api.post("/api/v1/archive/runs", who, {"fiscal_year": year, "period": period, **extra})

    resp = post()
    if settle_unsettled and resp.status == 409 and resp.json["error"]["code"] == "archive_period_unsettled":
        held = {"resp": resp}

        def settled() -> bool:
            held["resp"] = post()
            return not (held["resp"].status == 409
                        and held["resp"].json["error"]["code"] == "archive_period_unsettled")

        harness.settle(settled, "入账途中的凭证入账")
        resp = held["resp"]
    return resp


def archive_period(api: Api, harness: Any, ctx: dict, who: str, evidence: Callable) -> None:
    f = harness.factory
    resp = run_archive(api, harness, ctx, who, f.fiscal_year, f.period, evidence)
    assert resp.status == 201, f"归档 {f.fiscal_year}年{f.period}月 应成功（201），实际 {resp.status}：{resp.text[:500]}"
    ctx["run"] = run = resp.json
    mine = {v["id"] for v in ctx.get("vouchers", ())}
    ctx["items"] = [i for i in run["archived"] if i["voucher_id"] in mine]
    evidence("归档", f"{f.fiscal_year}年{f.period}月：新归档 {len(run['archived'])} 件，"
                     + "、".join(i["archival_code"] for i in ctx["items"]))


@given(parsers.re(r'档案员"(?P<who>[^"]+)"归档本期'))
def archived(api: Api, harness: Any, ctx: dict, who: str, evidence: Callable) -> None:
    archive_period(api, harness, ctx, who, evidence)


@when(parsers.re(r'档案员"(?P<who>[^"]+)"归档本期'))
def archive_now(api: Api, harness: Any, ctx: dict, who: str, evidence: Callable) -> None:
    archive_period(api, harness, ctx, who, evidence)


def class_code(harness: Any) -> str:
    profile = harness.profile()
    return voucher_class_code(harness.factory.fiscal_year, profile.get("retention_voucher"),
                              profile.get("class_scheme") or "PZ·{year}·{retention}")


@then("这两张凭证各生成一件档案，档号由全宗号、类别号、案卷号（月份）和四位件号组成，件号相连")
def two_items(harness: Any, ctx: dict, evidence: Callable) -> None:
    items = sorted(ctx["items"], key=lambda i: i["item_no"])
    assert len(items) == 2, f"应生成两件档案，实际 {len(items)}：{ctx['run']}"
    pattern = re.compile(re.escape(f"{ctx['buyer'].fonds_code}-{class_code(harness)}-{harness.factory.period:04d}-")
                         + r"\d{4}")
    for item in items:
        assert pattern.fullmatch(item["archival_code"]), item["archival_code"]
    assert items[1]["item_no"] == items[0]["item_no"] + 1, [i["archival_code"] for i in items]
    for item in items:
        evidence("档号", item["archival_code"])


@then(parsers.re(r'本期的件号从"(?P<first>\d{4})"起连续、无缺号'))
def gap_free(api: Api, harness: Any, first: str, evidence: Callable) -> None:
    numbers = sorted(i["item_no"] for i in volume_items(api, harness) if i["withdrawn_at"] is None)
    assert numbers == list(range(int(first), int(first) + len(numbers))), numbers
    evidence("本期件号", f"{numbers[0]:04d}–{numbers[-1]:04d}，共 {len(numbers)} 件")


def _package(api: Api, item: dict[str, Any], who: str = "王审计") -> bytes:
    resp = api.get(f"/api/v1/archive/items/{item['id']}/package", who, expect=200)
    return resp.body


@then("每件档案都通过四性检测，记账凭证排在原始凭证之前，并是有效的 BagIt 包")
def checked_and_valid(api: Api, ctx: dict, evidence: Callable) -> None:
    import bagit

    for item in ctx["items"]:
        assert item["checks"]["passed"] is True, [c for c in item["checks"]["checks"] if c["result"] == "fail"]
        roles = [m["role"] for m in item["manifest"]]
        assert roles.index("voucher") < roles.index("original"), roles
        data = _package(api, item)
        assert sha256_hex(data) == item["package_sha256"]
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(io.BytesIO(data)) as zf:
            zf.extractall(tmp)
            bagit.Bag(str(Path(tmp) / item["archival_code"])).validate()
        performed = [c for c in item["checks"]["checks"] if c["result"] == "pass"]
        evidence(item["archival_code"], f"四性检测通过 {len(performed)} 项；归档包 SHA-256 {item['package_sha256']}")


@then("再次归档本期不会重复归档这两张凭证")
def not_twice(api: Api, harness: Any, ctx: dict, evidence: Callable) -> None:
    f = harness.factory
    resp = run_archive(api, harness, ctx, "赵档案", f.fiscal_year, f.period, evidence)
    assert resp.status == 201, resp.text[:500]
    again = resp.json
    mine = {v["id"] for v in ctx["vouchers"]}
    assert not [i for i in again["archived"] if i["voucher_id"] in mine], again["archived"]
    codes = {i["archival_code"] for i in ctx["items"]}
    assert codes <= set(again["already_archived"]), again["already_archived"]
    evidence("再次归档", "此前已归档：" + "、".join(sorted(codes)))


@then(parsers.re(r'该凭证未归档，返回失败代码"(?P<code>[^"]+)"和安全性检测项'))
def not_archived(api: Api, ctx: dict, code: str, evidence: Callable) -> None:
    [voucher] = ctx["vouchers"]
    assert not ctx["items"], ctx["items"]
    failures = [f for f in ctx["run"]["failed"] if f.get("voucher_id") == voucher["id"]]
    assert failures, f"凭证 {voucher['display_number']} 不在失败清单中：{ctx['run']['failed']}"
    failure = failures[0]
    assert failure["code"] == code, failure
    assert any(c.startswith("GD-4-") for c in failure["codes"]), failure["codes"]
    assert api.voucher(voucher["id"])["archive_item_id"] is None
    evidence("失败", f"{failure['code']}：{'、'.join(failure['codes'])}；{failure['message']}")


@then("没有占用档案件号")
def number_given_back(api: Api, harness: Any, ctx: dict, evidence: Callable) -> None:
    before = [i["item_no"] for i in volume_items(api, harness)]
    ctx["vouchers"] = []
    posted_voucher(api, harness, ctx)
    archive_period(api, harness, ctx, "赵档案", lambda *_: None)
    [item] = ctx["items"]
    assert item["item_no"] == max(before, default=0) + 1, (item["archival_code"], before)
    evidence("下一件档号", item["archival_code"])


# -- the storage medium and the fixity audit (the harness's own reach) -----------------------------

@when("档案存储中某个档案包的一个字节被改动")
def flip_a_byte(harness: Any, ctx: dict, evidence: Callable) -> None:
    ctx["victim"] = harness.tamper_with_stored_package(ctx["items"][0]["archival_code"])
    evidence("被改动的对象", ctx["victim"])


@when("运行固定性审计")
def run_fixity(harness: Any, ctx: dict) -> None:
    ctx["exit"], ctx["out"] = harness.fixity_audit()


@then("审计报告指出该档案包校验值不符，其余对象完好")
def fixity_names_it(ctx: dict, evidence: Callable) -> None:
    assert ctx["exit"] == 1, ctx["out"]
    bad = [line for line in ctx["out"].splitlines() if line.strip().startswith(("mismatch", "missing"))]
    assert len(bad) == 1 and ctx["victim"] in bad[0], bad
    evidence("固定性审计", bad[0].strip())


# -- DA/T 48 ----------------------------------------------------------------------------------------

@when(parsers.re(r'档案员"(?P<who>[^"]+)"导出第一件档案的 DA/T 48 封装包'))
def export_eep(api: Api, ctx: dict, who: str, evidence: Callable) -> None:
    ctx["item"] = item = ctx["items"][0]
    ctx["eep"] = api.get(f"/api/v1/archive/items/{item['id']}/eep", who, expect=200).body
    evidence("封装包", f"{item['archival_code']}.eep.xml，SHA-256 {sha256_hex(ctx['eep'])}")


@then("封装包包含归档包中的全部文件，并以公布的公钥离线核验通过")
def eep_verifies(api: Api, ctx: dict) -> None:
    with zipfile.ZipFile(io.BytesIO(_package(api, ctx["item"], "赵档案"))) as zf:
        payload = {n.split("/data/", 1)[1]: zf.read(n) for n in zf.namelist() if "/data/" in n and not n.endswith("/")}
    ns = f"{{{EEP_NS}}}"
    embedded = {e.findtext(f"{ns}电子属性/{ns}计算机文件名"): base64.b64decode(e.findtext(ns + "编码数据") or "")
                for e in ET.fromstring(ctx["eep"]).iter(ns + "编码")}
    assert embedded == payload, (sorted(embedded), sorted(payload))
    ctx["public_key"] = api.call("GET", "/api/v1/bundle-key", expect=200).body
    checks = verify_eep(ctx["eep"], ctx["public_key"])
    assert checks and all(c.result == "pass" for c in checks), [c.__dict__ for c in checks if c.result != "pass"]


@then("封装包中被签名对象的一个字节被改动后，离线核验不通过")
def eep_tamper_caught(ctx: dict) -> None:
    eep = ctx["eep"]
    at = eep.index("<封装包创建单位>".encode()) + len("<封装包创建单位>".encode())
    checks = verify_eep(eep[:at] + b"X" + eep[at + 1:], ctx["public_key"])
    assert any(c.result != "pass" for c in checks), [c.__dict__ for c in checks]


@when(parsers.re(r'审计人员"(?P<who>[^"]+)"导出第一件档案的 DA/T 48 封装包'))
def auditor_exports_eep(api: Api, ctx: dict, who: str, evidence: Callable) -> None:
    export_eep(api, ctx, who, evidence)


@then("封装包通过 DA/T 48 附录A 的模式校验")
def eep_validates(ctx: dict, evidence: Callable) -> None:
    assert validate_eep(ctx["eep"]) == []
    evidence("模式校验", "DA/T 48-2009 附录A 模式（archive/schemas/dat48_eep.xsd）校验通过")


@then("封装包的证书块中是签名公钥的 X.509 证书")
def eep_certificate(api: Api, ctx: dict) -> None:
    ctx["public_key"] = api.call("GET", "/api/v1/bundle-key", expect=200).body
    checks = {c.code: c for c in verify_eep(ctx["eep"], ctx["public_key"])}
    assert checks["eep_certificate"].result == "pass", checks["eep_certificate"]
    assert all(c.result == "pass" for c in checks.values()), checks


@then("修改型封装包保留原封装包，同样通过模式校验和离线核验")
def modified_eep(api: Api, ctx: dict, evidence: Callable) -> None:
    modified = api.get(f"/api/v1/archive/items/{ctx['item']['id']}/eep", "王审计", params={"type": "modified"},
                       expect=200).body
    assert "修改型".encode() in modified and "原封装包".encode() in modified
    assert validate_eep(modified) == []
    checks = verify_eep(modified, ctx["public_key"])
    assert all(c.result == "pass" for c in checks), [c.__dict__ for c in checks if c.result != "pass"]
    assert "eep_original_signature" in {c.code for c in checks}
    evidence("修改型封装包", f"SHA-256 {sha256_hex(modified)}，保留原封装包并通过核验")


# -- an interrupted run -----------------------------------------------------------------------------

@given("档案员用命令行归档本期时，进程在写入部分归档包后被强行终止（kill -9）")
def killed_run(api: Api, harness: Any, ctx: dict, evidence: Callable) -> None:
    f = harness.factory
    waive_virus_checks(api, harness, ctx, evidence)
    ctx["written"] = harness.archive_run_killed(f.fiscal_year, f.period, after_packages=2)
    assert ctx["written"], "进程被终止前没有写入任何归档包"
    evidence("中断时已写入", "、".join(sorted(ctx["written"])))


@then(parsers.re(r'(?P<n>\d+)件档案全部归档，件号从"(?P<first>\d{4})"到"(?P<last>\d{4})"连续且不重复'))
def all_archived(api: Api, harness: Any, ctx: dict, n: str, first: str, last: str) -> None:
    items = [i for i in volume_items(api, harness) if i["withdrawn_at"] is None]
    numbers = sorted(i["archival_code"][-4:] for i in items)
    assert len(items) == int(n) and numbers == [f"{k:04d}" for k in range(int(first), int(last) + 1)], numbers
    assert len({i["voucher_id"] for i in items}) == int(n)


@then("中断时已写入存储的归档包经四性检测核验后被认领，不重写、不覆盖")
def adopted_as_they_were(harness: Any, ctx: dict) -> None:
    stored = harness.stored_packages()
    for name, data in ctx["written"].items():
        assert stored[name] == data, f"{name} 被重写"
    adopted = [r for r in ctx["run"]["archived"] if f"{r['archival_code']}.zip" in ctx["written"]]
    assert len(adopted) == len(ctx["written"]) and all(r["checks"]["passed"] for r in adopted)


@then("运行固定性审计，没有缺失、不符或未登记的对象")
def fixity_clean(harness: Any) -> None:
    code, out = harness.fixity_audit()
    assert code == 0, out


# -- 移交 --------------------------------------------------------------------------------------------

@pytest.fixture
def period_restored(harness: Any) -> Any:
    """The run's accounting period, put back after a scenario that moved it."""
    saved = harness.factory.issued
    yield harness.factory
    harness.factory.issued = saved


@given("本场景的会计期间是上一会计年度的十二月（会计档案在会计年度终了后移交）")
def previous_fiscal_year(period_restored: Any) -> None:
    factory = period_restored
    factory.issued = dt.datetime(factory.today.year - 1, 12, 31, 10, 30)   # at most a year old: still 查验-able


# The 移交人 (the accounting unit's clerk), the 接收人 (the archivist) and the 监交人 (a
# responsible approver) each sign the 移交清册 in their capacity (docs/disposition.md).
_TRANSFER_SIGNERS = (("张经办", "handover", "会计管理机构"), (None, "receiver", "档案管理机构"),
                     ("李审核", "supervisor", "单位负责人"))


@when(parsers.re(r'档案员"(?P<who>[^"]+)"导出本年度的移交包'))
def export_transfer(api: Api, harness: Any, ctx: dict, who: str, evidence: Callable) -> None:
    transfer = api.post("/api/v1/archive/transfers", who, {"fiscal_year": harness.factory.fiscal_year,
                                                           "receiver_unit": "本单位档案室"}, expect=201).json
    scanner = harness.profile().get("virus_scanner") or {}
    waiver = None if scanner.get("configured") else {   # the receiver's re-check cannot scan either
        "checks": ["GD-4-1", "GD-4-2"], "reason": "部署无法执行病毒检测，接收与监交时登记豁免"}
    for person, role, unit in _TRANSFER_SIGNERS:
        body: dict[str, Any] = {"role": role, "unit": unit}
        if role != "handover" and waiver is not None:
            body["waive"] = waiver
        transfer = api.post(f"/api/v1/archive/transfers/{transfer['id']}/sign", person or who, body,
                            expect=200).json
    assert transfer["status"] == "completed", transfer["status"]
    package = api.get(f"/api/v1/archive/transfers/{transfer['id']}/package", "王审计", expect=200).body
    ctx["transfer"] = package
    ctx["public_key"] = api.call("GET", "/api/v1/bundle-key", expect=200).body
    evidence("移交包", f"{transfer['number']}：{len(transfer['items'])} 件，移交人、接收人、监交人签署，"
                      f"{len(package)} 字节，SHA-256 {sha256_hex(package)}")


@then("移交清册列出这两件档案及其 SHA-256 与 SM3")
def transfer_list(ctx: dict) -> None:
    with zipfile.ZipFile(io.BytesIO(ctx["transfer"])) as zf:
        listing = ET.fromstring(zf.read("移交清册.xml"))
        names = set(zf.namelist())
    rows = {el.get("档号"): el for el in listing.find("移交档案").findall("件")}
    for item in ctx["items"]:
        row = rows.get(item["archival_code"])
        assert row is not None, f"移交清册没有 {item['archival_code']}"
        assert (row.get("SHA256"), row.get("SM3")) == (item["package_sha256"], item["package_sm3"])
        assert f"items/{item['archival_code']}.zip" in names


@then("接收方检测移交包：清单与清册相符，这两件档案都通过四性检测")
def receiver_checks(ctx: dict, evidence: Callable) -> None:
    report = check_transfer(ctx["transfer"], public_key_pem=ctx["public_key"])
    assert not report.problems, report.problems           # manifests, the signed list and the packages agree
    mine = {i["archival_code"] for i in ctx["items"]}
    failing = {code: codes for code, codes in report.item_failures.items() if code in mine}
    assert not failing, failing
    others = {code: codes for code, codes in report.item_failures.items() if code not in mine}
    evidence("接收检测", f"{report.items} 件，{report.passed} 件通过四性检测；本场景的 {len(mine)} 件全部通过")
    if others:   # archived before this run (earlier versions, earlier runs): said, not hidden
        evidence("其他档案未通过接收检测", "；".join(f"{c}：{'、'.join(v)}" for c, v in sorted(others.items())))


@then("移交包中一个字节被改动后，接收方检测不通过并指明问题")
def receiver_catches(ctx: dict, evidence: Callable) -> None:
    with zipfile.ZipFile(io.BytesIO(ctx["transfer"])) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    listing = bytearray(members["移交清册.csv"])
    listing[-3] ^= 0x01
    members["移交清册.csv"] = bytes(listing)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    report = check_transfer(buf.getvalue())
    assert not report.ok and any("移交清册.csv" in p for p in report.problems), report.to_dict()
    evidence("接收检测", "；".join(report.problems))


# -- retention and appraisal -----------------------------------------------------------------------

@then("该件档案的保管期限不少于 30 年，自会计年度终了后的第一天算起")
def retention(harness: Any, ctx: dict, evidence: Callable) -> None:
    [item] = ctx["items"]
    years = harness.profile().get("retention_voucher")
    assert years is None or years >= 30, years
    until = dt.date.fromisoformat(item["retention_until"])
    assert until == dt.date(item["fiscal_year"] + years, 12, 31), (item["retention_until"], years)
    ctx["retention_until"] = until
    evidence(item["archival_code"], f"保管期限 {item['retention']}，至 {until.isoformat()}")


@when(parsers.re(r'审计人员"(?P<who>[^"]+)"查询保管期限届满(?P<when>次日|当日)的待鉴定档案'))
def appraisal(api: Api, ctx: dict, who: str, when: str) -> None:
    as_of = ctx["retention_until"] + dt.timedelta(days=1 if when == "次日" else 0)
    ctx["due"] = api.get("/api/v1/archive/appraisals", who, params={"as_of": as_of.isoformat()}, expect=200).json


@then(parsers.re(r"待鉴定清单中(?P<has>有|没有)该件档案"))
def listed(ctx: dict, has: str, evidence: Callable) -> None:
    codes = {i["archival_code"] for i in ctx["due"]["items"]}
    code = ctx["items"][0]["archival_code"]
    assert (code in codes) == (has == "有"), (code, ctx["due"]["as_of"], len(codes))
    evidence(f"截至 {ctx['due']['as_of']}", f"待鉴定 {ctx['due']['total']} 件，{'含' if has == '有' else '不含'} {code}")


@then("该件档案的归档包仍可下载，SHA-256 与归档时一致")
def still_kept(api: Api, ctx: dict) -> None:
    item = ctx["items"][0]
    assert sha256_hex(_package(api, item)) == item["package_sha256"]
