"""The report records what ran as it ran: a passed, a failed and a skipped scenario are
each shown as such, in cucumber JSON (a skipped scenario's steps all there, skipped),
JUnit XML and the Chinese HTML; SHA256SUMS and the deployment's signature prove it."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from invoice_archive.acceptance.plugin import Recorder
from invoice_archive.acceptance.report import FAILED, PASSED, SKIPPED, Run, now_iso, write
from invoice_archive.acceptance.verify import verify_report_dir
from invoice_archive.bundle import new_signer
from invoice_archive.bundle.statement import REPORT_KIND, sign_statement

FEATURE = """# language: zh-CN
功能: 小功能（测试报告）
  报告要如实记录。

  @条款:CK6-C1
  场景: 通过的场景
    假如有一张发票
    那么它被记录下证据

  @条款:CK6-C1
  场景: 未通过的场景
    假如有一张发票
    那么这一步失败
    而且这一步不会执行

  场景: 跳过的场景
    假如部署不满足需要
    那么这一步不会执行
"""

STEPS = '''
import pytest
from pytest_bdd import given, then, scenarios
from invoice_archive.acceptance.steps.common import evidence  # noqa: F401 - the fixture

scenarios("tiny/tiny.feature")


@given("有一张发票")
def invoice(evidence):
    evidence("发票", "24992000000000000001")


@then("它被记录下证据")
def recorded(evidence):
    evidence("档号", "Z001-PZ·2024·D30-0007-0001")


@then("这一步失败")
def fails():
    assert 1 == 2, "金额不符"


@then("这一步不会执行")
def never():
    raise AssertionError("不应执行")


@given("部署不满足需要")
def skip():
    pytest.skip("本场景需要：部署接入了税务平台。被测部署未接入税务平台。")
'''


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    base = tmp_path_factory.mktemp("tiny")
    (base / "features" / "tiny").mkdir(parents=True)
    (base / "features" / "tiny" / "tiny.feature").write_text(FEATURE, encoding="utf-8")
    (base / "test_tiny.py").write_text(STEPS, encoding="utf-8")
    (base / "conftest.py").write_text("def pytest_bdd_apply_tag(tag, function):\n    return True\n",
                                      encoding="utf-8")
    (base / "pytest.ini").write_text("[pytest]\nbdd_features_base_dir = features/\n", encoding="utf-8")
    recorded = Run(started=now_iso(), url="http://127.0.0.1:6543", run_number=7,
                   deployment={"version": "0.1.0", "profile": "测试"})
    pytest.main([str(base / "test_tiny.py"), "-c", str(base / "pytest.ini"), "--rootdir", str(base),
                 "-p", "no:cacheprovider", "-q", "-p", "no:warnings"], plugins=[Recorder(recorded)])
    recorded.finished = now_iso()
    return recorded


def by_name(run: Run) -> dict:
    return {s.name: s for s in run.scenarios}


def test_each_scenario_is_recorded_as_it_ended(run: Run):
    s = by_name(run)
    assert s["通过的场景"].status == PASSED and [st.status for st in s["通过的场景"].steps] == [PASSED, PASSED]
    assert s["通过的场景"].steps[1].evidence == [("档号", "Z001-PZ·2024·D30-0007-0001")]
    failed = s["未通过的场景"]
    assert failed.status == FAILED and [st.status for st in failed.steps] == [PASSED, FAILED, "not_run"]
    assert "金额不符" in failed.steps[1].error and "金额不符" in failed.reason
    skipped = s["跳过的场景"]
    assert skipped.status == SKIPPED and [st.status for st in skipped.steps] == [SKIPPED, SKIPPED]
    assert skipped.reason == "本场景需要：部署接入了税务平台。被测部署未接入税务平台。"
    assert not run.ok


def test_cucumber_json_shows_a_skipped_scenario_with_all_its_steps_skipped(run: Run, tmp_path: Path):
    write(run, tmp_path)
    [feature] = json.loads((tmp_path / "cucumber.json").read_text("utf-8"))
    elements = {e["name"]: e for e in feature["elements"]}
    assert [st["result"]["status"] for st in elements["跳过的场景"]["steps"]] == ["skipped", "skipped"]
    assert [st["result"]["status"] for st in elements["未通过的场景"]["steps"]] == ["passed", "failed", "skipped"]
    assert [st["result"]["status"] for st in elements["通过的场景"]["steps"]] == ["passed", "passed"]
    assert {"name": "@条款:CK6-C1", "line": elements["通过的场景"]["line"] - 1} in elements["通过的场景"]["tags"]


def test_junit_marks_failures_and_skips(run: Run, tmp_path: Path):
    write(run, tmp_path)
    root = ET.fromstring((tmp_path / "junit.xml").read_bytes())
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["未通过的场景"].find("failure") is not None
    assert "未接入税务平台" in cases["跳过的场景"].find("skipped").get("message")
    assert cases["通过的场景"].find("failure") is None and cases["通过的场景"].find("skipped") is None


def test_the_html_is_chinese_with_the_matrix_and_the_reasons(run: Run, tmp_path: Path):
    write(run, tmp_path)
    page = (tmp_path / "report.html").read_text("utf-8")
    assert 'lang="zh-CN"' in page and "条款与场景对照" in page and "CK6-C1" in page
    assert "跳过原因：本场景需要：部署接入了税务平台" in page and "金额不符" in page
    assert "Z001-PZ·2024·D30-0007-0001" in page and "未通过" in page


def test_the_signed_report_verifies_and_a_changed_byte_does_not(run: Run, tmp_path: Path):
    digest = write(run, tmp_path)
    signer = new_signer("ed25519")
    signed = sign_statement(signer, {"kind": REPORT_KIND, "report_sha256": digest, "signed_at": now_iso(),
                                     "requested_by": "王审计", "deployment": {"version": "0.1.0"}})
    (tmp_path / "signature.json").write_text(json.dumps(signed, ensure_ascii=False), encoding="utf-8")
    key = signer.public_key_pem()
    assert verify_report_dir(tmp_path, key).ok
    assert not verify_report_dir(tmp_path, new_signer("ed25519").public_key_pem()).ok   # another key
    page = tmp_path / "report.html"
    original = page.read_bytes()
    page.write_bytes(original.replace("未通过".encode(), "通过了".encode(), 1))
    check = verify_report_dir(tmp_path, key)
    assert not check.ok and any("report.html" in text for _, text in check.lines)
    page.write_bytes(original)
    sums = tmp_path / "SHA256SUMS"                                       # new sums for the changed file
    sums.write_text(sums.read_text().replace(sums.read_text()[:64], "0" * 64), encoding="ascii")
    assert not verify_report_dir(tmp_path, key).ok
    (tmp_path / "signature.json").unlink()
    assert any("缺少 signature.json" in text for _, text in verify_report_dir(tmp_path, key).lines)
