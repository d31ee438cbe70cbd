"""The EEP against DA/T 48 Appendix A's schema (archive/schemas/dat48_eep.xsd): an EEP
the service writes validates, 原始型 and 修改型, and each kind of departure the
conformance review found is refused with the element named."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from invoice_archive.archive.eep import build_eep, build_modified_eep, eep_schema, validate_eep, verify_eep
from invoice_archive.bundle.certificate import self_signed_certificate
from invoice_archive.bundle.signing import new_signer

from .bags import make_bag

CREATED = dt.datetime(2024, 8, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def signer():
    return new_signer("ed25519")


@pytest.fixture(scope="module")
def eep(signer) -> bytes:
    bag, _ = make_bag()
    return build_eep(bag, unit_name="南京测试买方有限公司", unit_code="91320100MA1TEST01X", created=CREATED,
                     signer=signer, certificate=self_signed_certificate(signer))


def test_the_schema_compiles_from_the_package_data():
    assert eep_schema() is not None


def test_an_eep_the_service_writes_validates(eep, signer):
    assert validate_eep(eep) == []
    checks = verify_eep(eep, signer.public_key_pem())
    assert all(c.result == "pass" for c in checks), [c for c in checks if c.result != "pass"]
    assert {"eep_schema", "eep_certificate", "eep_signature", "eep_lock_signature", "eep_file"} <= {c.code for c in checks}


def test_a_modified_layer_validates_and_keeps_the_original_whole(eep, signer):
    bag, _ = make_bag()
    events = [{"action": "archive.checked", "at": "2025-03-01T08:00:00+00:00", "actor": "孙档案",
               "description": "年度复检", "basis": "DA/T 92-2022"}]
    modified = build_modified_eep(eep, bag, events=events, reason="年度复检", unit_name="南京测试买方有限公司",
                                  unit_code="91320100MA1TEST01X", created=CREATED + dt.timedelta(days=200),
                                  signer=signer, certificate=self_signed_certificate(signer))
    assert validate_eep(modified) == []
    start, end = eep.index("<被签名对象".encode()), eep.index("</电子签名块>".encode()) + len("</电子签名块>".encode())
    assert eep[start:end] in modified          # the original 被签名对象 and 电子签名块, byte for byte
    assert "修改型".encode() in modified and "引用编码数据ID".encode() in modified
    checks = verify_eep(modified, signer.public_key_pem())
    assert all(c.result == "pass" for c in checks), [c for c in checks if c.result != "pass"]
    assert "eep_original_signature" in {c.code for c in checks}


def _swap(eep: bytes, old: str, new: str, count: int = 1) -> bytes:
    assert old.encode() in eep, old
    return eep.replace(old.encode(), new.encode(), count)


def _sub(eep: bytes, pattern: str, repl: str) -> bytes:
    out, n = re.subn(pattern.encode(), repl.encode(), eep, count=1, flags=re.S)
    assert n == 1, pattern
    return out


BROKEN = [
    # (what the review found, how to break a valid EEP that way, the element the validator names)
    ("聚合层次 must be 文件", lambda e: _swap(e, "<聚合层次>文件</聚合层次>", "<聚合层次>件</聚合层次>"), "聚合层次"),
    ("文件实体 needs 来源", lambda e: _sub(e, "<来源>.*?</来源>", ""), "来源"),
    ("文件实体 needs 电子文件号", lambda e: _sub(e, "<电子文件号>.*?</电子文件号>", ""), "电子文件号"),
    ("文件实体 needs 内容描述", lambda e: _sub(e, "<内容描述>.*?</内容描述>", ""), "内容描述"),
    ("文件实体 needs 形式特征", lambda e: _sub(e, "<形式特征>.*?</形式特征>", ""), "形式特征"),
    ("文件实体 needs 存储位置", lambda e: _sub(e, "<存储位置>.*?</存储位置>", ""), "存储位置"),
    ("文件实体 needs 权限管理", lambda e: _sub(e, "<权限管理>.*?</权限管理>", ""), "权限管理"),
    ("文档 sits in 文件数据", lambda e: _swap(_swap(e, "<文件数据>", ""), "</文件数据>", ""), "文档"),
    ("编码 holds 电子属性", lambda e: _sub(e, "<电子属性>.*?</电子属性>", ""), "电子属性"),
    ("编码 holds 反编码关键字", lambda e: _sub(e, "<反编码关键字>.*?</反编码关键字>", ""), "反编码关键字"),
    ("编码 carries 编码ID", lambda e: _sub(e, ' 编码ID="[^"]*"', ""), "编码ID"),
    ("文档数据 carries 文档数据ID", lambda e: _sub(e, ' 文档数据ID="[^"]*"', ""), "文档数据ID"),
    ("编码数据 carries 编码数据ID", lambda e: _sub(e, ' 编码数据ID="[^"]*"', ""), "编码数据ID"),
    ("业务状态 within its values", lambda e: _swap(e, "<业务状态>历史行为</业务状态>", "<业务状态>归档</业务状态>"), "业务状态"),
    ("锁定签名 names the signature it locks",
     lambda e: _sub(e, "<被锁定签名标识符>[^<]*</被锁定签名标识符>", ""), "被锁定签名标识符"),
    ("被锁定签名标识符 refers to a 签名标识符",
     lambda e: _sub(e, "<被锁定签名标识符>[^<]*</被锁定签名标识符>", "<被锁定签名标识符>签名99</被锁定签名标识符>"),
     "签名99"),
    ("证书 is base64 (a DER certificate), not PEM text",
     lambda e: _sub(e, "<证书>[^<]*</证书>", "<证书>-----BEGIN PUBLIC KEY-----</证书>"), "证书"),
    ("封装包类型 is 原始型 or 修改型", lambda e: _swap(e, "<封装包类型>原始型</封装包类型>", "<封装包类型>归档型</封装包类型>"),
     "封装包类型"),
    ("eep版本 is 2009", lambda e: _swap(e, 'eep版本="2009"', 'eep版本="2010"'), "eep版本"),
    ("室编件号 is a positive integer", lambda e: _sub(e, "<室编件号>[^<]*</室编件号>", "<室编件号>0</室编件号>"), "室编件号"),
    ("no element outside the schema", lambda e: _swap(e, "<密级>", "<数字摘要>x</数字摘要><密级>"), "数字摘要"),
]


@pytest.mark.parametrize("why, breaks, named", BROKEN, ids=[b[0] for b in BROKEN])
def test_each_departure_is_refused_with_the_element_named(eep, why, breaks, named):
    problems = validate_eep(breaks(eep))
    assert problems, why
    assert any(named in p for p in problems), problems


def test_verify_reports_a_schema_failure(eep, signer):
    broken = _swap(eep, "<业务状态>历史行为</业务状态>", "<业务状态>归档</业务状态>")
    failed = {c.code: c.detail for c in verify_eep(broken, signer.public_key_pem()) if c.result == "fail"}
    assert "eep_schema" in failed and "业务状态" in failed["eep_schema"]
    assert "eep_signature" in failed      # the change is inside 被签名对象 too


def test_the_sm2_certificate_is_read_back_and_the_eep_verifies_with_it_alone():
    sm2 = new_signer("sm2-sm3")
    bag, _ = make_bag()
    eep = build_eep(bag, unit_name="南京测试买方有限公司", unit_code="91320100MA1TEST01X", created=CREATED,
                    signer=sm2, certificate=self_signed_certificate(sm2))
    assert validate_eep(eep) == []
    checks = {c.code: c for c in verify_eep(eep)}           # no key given: the certificate's
    assert all(c.result == "pass" for c in checks.values()), checks
    assert "自签名" in checks["eep_certificate"].detail
    other = new_signer("sm2-sm3").public_key_pem()
    failed = {c.code for c in verify_eep(eep, other) if c.result == "fail"}
    assert {"eep_certificate", "eep_signature", "eep_lock_signature"} <= failed
