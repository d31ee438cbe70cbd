"""features/journey: the whole path of one e-invoice, over the HTTP API."""
from __future__ import annotations

import io
import tempfile
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from pytest_bdd import given, parsers, then, when

from invoice_archive.acceptance.steps.archive import class_code, run_archive
from invoice_archive.acceptance.steps.common import Api, refusal
from invoice_archive.acceptance.words import INVOICE_STATUS_LABELS, label
from invoice_archive.digests import sha256_hex, sm3_hex


@when(parsers.re(r'经办人"(?P<who>[^"]+)"上传一张合成的签章 OFD 电子发票'))
def upload_signed_ofd(api: Api, harness: Any, ctx: dict, who: str, evidence: Callable) -> None:
    ctx["file"] = file = harness.factory.ofd(ctx["buyer"])
    ctx["response"] = api.upload(file, who)
    evidence("上传", f"{file.filename}（{len(file.data)} 字节，SHA-256 {sha256_hex(file.data)}）")


@then("系统接收该发票，号码与价税合计与开具时一致")
def received(ctx: dict, evidence: Callable) -> None:
    resp = ctx["response"]
    assert resp.status == 201, f"发票应被接收（201），实际 {resp.status}：{resp.text[:400]}"
    ctx["invoice"] = inv = resp.json
    want = ctx["file"].fields
    assert inv["number"] == want["number"], (inv["number"], want["number"])
    assert Decimal(inv["total"]) == Decimal(want["total"]), (inv["total"], want["total"])
    evidence("发票", f"{inv['business_key']}，价税合计 {inv['total']}")


@when(parsers.re(r'经办人"(?P<who>[^"]+)"以该发票创建报销单并提交'))
def claim_and_submit(api: Api, ctx: dict, who: str, evidence: Callable) -> None:
    resp = api.create_claim([ctx["invoice"]["id"]], who, expect=None)
    if resp.status != 201:
        err = refusal(resp)
        raise AssertionError(f"报销单被拒绝（{err['code']}）：{err['message']}")
    claim = resp.json
    ctx["claim"] = api.post(f"/api/v1/claims/{claim['id']}/submit", who, expect=200).json
    evidence("报销单", claim["number"])


@when(parsers.re(r'审核人"(?P<who>[^"]+)"审核通过'))
def review(api: Api, ctx: dict, who: str) -> None:
    ctx["claim"] = api.post(f"/api/v1/claims/{ctx['claim']['id']}/review", who, {"comment": "票据齐全"},
                            expect=200).json


@when(parsers.re(r'审批人"(?P<who>[^"]+)"审批通过'))
def approve(api: Api, ctx: dict, who: str) -> None:
    ctx["claim"] = api.post(f"/api/v1/claims/{ctx['claim']['id']}/approve", who, {"comment": "同意"},
                            expect=200).json


@then(parsers.re(r"发票状态为「(?P<shown>[^」]+)」，并关联该凭证"))
def invoice_posted(api: Api, ctx: dict, shown: str) -> None:
    inv = api.invoice(ctx["invoice"]["id"])
    assert label(INVOICE_STATUS_LABELS, inv["status"]) == shown, inv["status"]
    assert inv["voucher"]["id"] == ctx["voucher"]["id"], inv["voucher"]


@when(parsers.re(r'档案员"(?P<who>[^"]+)"归档该凭证所在会计期间'))
def archive(api: Api, harness: Any, ctx: dict, who: str, evidence: Callable) -> None:
    v = ctx["voucher"]
    ctx.setdefault("vouchers", [v])
    resp = run_archive(api, harness, ctx, who, v["fiscal_year"], v["period"], evidence)
    assert resp.status == 201, resp.text[:500]
    ctx["run"] = resp.json


@then("该凭证生成一件档案，档号以全宗号和类别号开头")
def archived(harness: Any, ctx: dict, evidence: Callable) -> None:
    items = [i for i in ctx["run"]["archived"] if i["voucher_id"] == ctx["voucher"]["id"]]
    assert len(items) == 1, ctx["run"]
    prefix = f"{ctx['buyer'].fonds_code}-{class_code(harness)}-"
    assert items[0]["archival_code"].startswith(prefix), (items[0]["archival_code"], prefix)
    ctx["item"] = items[0]
    evidence("档号", items[0]["archival_code"])
    evidence("归档包 SHA-256", items[0]["package_sha256"])


@when(parsers.re(r'审计人员"(?P<who>[^"]+)"按发票号码查找并下载档案包'))
def auditor_downloads(api: Api, ctx: dict, who: str) -> None:
    found = api.get("/api/v1/archive/items", who, params={"invoice_number": ctx["file"].written_number},
                    expect=200).json
    assert found["total"] == 1, f"按发票号码 {ctx['file'].written_number} 应找到 1 件档案，实际 {found['total']} 件"
    ctx["item"] = found["items"][0]
    resp = api.get(f"/api/v1/archive/items/{ctx['item']['id']}/package", who, expect=200)
    ctx["package"] = resp.body


def _manifest(text: str) -> dict[str, str]:
    return {path: digest for digest, path in (line.split("  ", 1) for line in text.splitlines() if line)}


@then("档案包清单中原始发票的 SHA-256 与 SM3 与接收时的原始字节一致")
def manifest_matches(ctx: dict, evidence: Callable) -> None:
    original = ctx["file"].data
    with zipfile.ZipFile(io.BytesIO(ctx["package"])) as zf:
        top = zf.namelist()[0].split("/", 1)[0]
        sha = _manifest(zf.read(f"{top}/manifest-sha256.txt").decode())
        sm3 = _manifest(zf.read(f"{top}/manifest-sm3.txt").decode())
        name = next(p for p in sha if "原始凭证" in p)
        assert zf.read(f"{top}/{name}") == original
    assert sha[name] == sha256_hex(original) and sm3[name] == sm3_hex(original)
    evidence("原始凭证", f"{name}：SHA-256 {sha[name]}，SM3 {sm3[name]}")


@then("档案包是有效的 BagIt 包")
def valid_bag(ctx: dict) -> None:
    import bagit

    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(io.BytesIO(ctx["package"])) as zf:
        zf.extractall(tmp)
        top = zf.namelist()[0].split("/", 1)[0]
        bagit.Bag(str(Path(tmp) / top)).validate()


@given(parsers.re(r'经办人"(?P<who>[^"]+)"已上传一张合成发票并创建报销单'))
def already_claimed(api: Api, harness: Any, ctx: dict, who: str) -> None:
    ctx["file"] = file = harness.factory.xml(ctx["buyer"])
    inv = api.received(file, who)
    ctx["earlier_claim"] = api.create_claim([inv["id"]], who).json


@when(parsers.re(r'经办人"(?P<who>[^"]+)"再次上传同一张发票'))
def upload_again(api: Api, ctx: dict, who: str) -> None:
    ctx["sent"] = ctx["file"].data
    ctx["response"] = api.upload(ctx["file"], who)


@then("拒绝信息指明此前的报销单")
def names_earlier_claim(ctx: dict, evidence: Callable) -> None:
    err = ctx["response"].json["error"]
    assert err["detail"]["claim"]["number"] == ctx["earlier_claim"]["number"], err["detail"]
    assert ctx["earlier_claim"]["number"] in err["message"], err["message"]
    evidence("拒绝信息", err["message"])

