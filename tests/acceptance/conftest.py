"""Shared steps of the acceptance features: they drive the HTTP API only."""
from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from pytest_bdd import given, parsers, then, when

from tests.support.invoices import sample
from tests.support.journey import post_invoice


@pytest.fixture
def ctx() -> dict[str, Any]:
    """What the scenario has done so far."""
    return {}


@given(parsers.re(r'发票抬头上的会计主体（税号 (?P<tax_id>\w+)，全宗号 (?P<fonds>\w+)）已开通服务'))
def organisation_ready(service, buyer_org, tax_id: str, fonds: str) -> None:
    # the service fixture creates this organisation (named as the invoice's 抬头) and its people
    assert (buyer_org["tax_id"], buyer_org["fonds_code"]) == (tax_id, fonds)


@when(parsers.parse('经办人"{who}"上传电子发票"{path}"'))
@when(parsers.parse('经办人"{who}"再次上传电子发票"{path}"'))
def upload_sample(service, ctx, who: str, path: str) -> None:
    data = sample(path)
    ctx.setdefault("originals", {})[path] = data
    ctx["response"] = post_invoice(service, data, path.rsplit("/", 1)[-1], who=who, status="*")
    if ctx["response"].status_int == 201:
        ctx["invoice"] = ctx["response"].json


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


NOT_INVOICES = {
    "空文件": b"",
    "随机字节": bytes(range(256)) * 8,
    "不含发票的 ZIP 包": _zip({"readme.txt": "这不是发票".encode()}),
    "不是发票的 XML": "<?xml version='1.0' encoding='UTF-8'?><订单><编号>1</编号></订单>".encode(),
}


@when(parsers.parse('经办人"{who}"上传文件"{kind}"'))
def upload_not_invoice(service, ctx, who: str, kind: str) -> None:
    ctx["response"] = post_invoice(service, NOT_INVOICES[kind.strip()], "file.ofd", who=who, status="*")


@then(parsers.parse('系统拒绝，错误代码为"{code}"'))
def refused_with(ctx, code: str) -> None:
    resp = ctx["response"]
    assert 400 <= resp.status_int < 500, resp.text
    assert resp.json["error"]["code"] == code


@then("系统拒绝，返回 4xx 错误和错误代码")
def refused_4xx(ctx) -> None:
    resp = ctx["response"]
    assert 400 <= resp.status_int < 500, resp.text
    assert resp.json["error"]["code"] not in ("", None, "internal_error")
    assert resp.json["error"]["message"]


@then("数据库与档案存储中没有留下任何记录")
def nothing_left(service) -> None:
    assert service.count("invoices") == 0
    assert service.count("audit_events") == 0
    assert service.stored_files() == []
