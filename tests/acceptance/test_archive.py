"""features/archive: archiving a month, a failed four-property check, and the fixity audit."""
from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import bagit
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from invoice_archive.cli import main
from tests.support.invoices import synthetic_xml
from tests.support.journey import (
    approve_claim, archive_period, create_claim, post_invoice, post_voucher, prepare_archiving, voucher_report,
)

scenarios("archive/archive.feature")

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def service_overrides(request, tmp_path) -> dict[str, str]:
    """A signing key (for the EEP), and a real ClamAV for the scenario that scans for viruses."""
    key = {"bundle.signing_key": str(tmp_path / "bundle-key.pem"), "bundle.signing_key_generate": "true"}
    if "四性检测不通过" not in request.node.name:
        return key
    if shutil.which("clamscan") is None:
        message = "ClamAV (clamscan) is not installed: apt-get install clamav"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    db = tmp_path / "eicar.ndb"
    db.write_text(f"Invoice-Archive.Test.EICAR:0:*:{EICAR.hex()}\n", encoding="ascii")
    return {**key, "archive.clamav_database": str(db)}


def _posted(service, number: str, voucher_no: str, data: bytes | None = None) -> None:
    inv = post_invoice(service, data or synthetic_xml(number)).json
    claim = approve_claim(service, create_claim(service, [inv["id"]]).json["id"])
    post_voucher(service, voucher_report(claim, number=voucher_no))


@given("2024年7月已有两张记账凭证入账")
def two_vouchers(service) -> None:
    _posted(service, "24992000000000000001", "0001")
    _posted(service, "24992000000000000002", "0002")


@given("归档时使用 ClamAV 进行病毒检测")
def clamav_configured(service_overrides) -> None:
    assert service_overrides["archive.clamav_database"]


@given("2024年7月有一张记账凭证，其原始发票中含有病毒特征码")
def infected_voucher(service) -> None:
    data = synthetic_xml("24992000000000000001").replace("合成示例发票，仅供演示与测试".encode(), EICAR)
    _posted(service, "24992000000000000001", "0001", data)


@given(parsers.parse('档案员"{who}"归档2024年7月'))
@when(parsers.parse('档案员"{who}"归档2024年7月'))
def archive_july(service, ctx, who: str) -> None:
    ctx["run"] = archive_period(service, 2024, 7).json


@then(parsers.parse('生成两件档案，件号连续为"{a}"和"{b}"'))
def consecutive(ctx, a: str, b: str) -> None:
    assert [i["archival_code"][-4:] for i in ctx["run"]["archived"]] == [a, b]


@then("每件档案都通过四性检测，并是有效的 BagIt 包")
def checked_and_valid(service, ctx, tmp_path) -> None:
    for item in ctx["run"]["archived"]:
        assert item["checks"]["passed"] is True
        body = service.app.get(f"/api/v1/archive/items/{item['id']}/bundle", headers=service.headers("王审计")).body
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            zf.extractall(tmp_path)
        bagit.Bag(str(tmp_path / item["archival_code"])).validate()


@then("再次归档该月份不会重复归档")
def not_twice(service, ctx) -> None:
    again = archive_period(service, 2024, 7).json
    assert again["archived"] == [] and len(again["already_archived"]) == 2


@then(parsers.parse('该凭证未归档，返回失败代码"{code}"和安全性检测项'))
def not_archived(service, ctx, code: str) -> None:
    assert ctx["run"]["archived"] == []
    [failure] = ctx["run"]["failed"]
    assert failure["code"] == code
    assert any(c.startswith("GD-4-") for c in failure["codes"])
    assert service.count("archive_items") == 0


@then("没有占用档案件号")
def number_given_back(service) -> None:
    _posted(service, "24992000000000000002", "0002")
    run = archive_period(service, 2024, 7).json
    assert [i["archival_code"][-4:] for i in run["archived"]] == ["0001"]


@when("档案存储中某个档案包的一个字节被改动")
def flip_a_byte(service, ctx) -> None:
    victim = sorted(p for p in service.stored_files() if p.suffix == ".zip")[0]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    victim.write_bytes(bytes(raw))
    ctx["victim"] = victim


@when("运行固定性审计")
def run_fixity(service, ctx, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DATABASE_URL", service.db_url)
    monkeypatch.setenv("ARCHIVE_STORE_URL", service.store_dir.as_uri())
    capsys.readouterr()
    ctx["exit"] = main(["-c", str(PROJECT / "development.ini"), "audit-fixity", "--quiet"])
    ctx["out"] = capsys.readouterr().out


@then("审计报告指出该档案包校验值不符，其余对象完好")
def fixity_names_it(ctx) -> None:
    assert ctx["exit"] == 1
    bad = [line for line in ctx["out"].splitlines() if line.strip().startswith(("mismatch", "missing"))]
    assert len(bad) == 1 and ctx["victim"].name in bad[0]


@when(parsers.parse('档案员"{who}"导出第一件档案的 DA/T 48 封装包'))
def export_eep(service, ctx, who: str) -> None:
    item = ctx["run"]["archived"][0]
    ctx["item"] = item
    ctx["eep"] = service.app.get(f"/api/v1/archive/items/{item['id']}/eep", headers=service.headers(who)).body


@then("封装包包含归档包中的全部文件，并以公布的公钥离线核验通过")
def eep_verifies(service, ctx, tmp_path) -> None:
    import base64
    import xml.etree.ElementTree as ET

    from invoice_archive.archive.eep import NAMESPACE

    package = service.app.get(f"/api/v1/archive/items/{ctx['item']['id']}/bundle",
                              headers=service.headers("赵档案")).body
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        payload = {n.split("/data/", 1)[1]: zf.read(n) for n in zf.namelist() if "/data/" in n and not n.endswith("/")}
    ns = f"{{{NAMESPACE}}}"
    embedded = {e.findtext(f"{ns}电子属性/{ns}计算机文件名"): base64.b64decode(e.findtext(ns + "编码数据"))
                for e in ET.fromstring(ctx["eep"]).iter(ns + "编码")}
    assert embedded == payload
    (tmp_path / "item.eep.xml").write_bytes(ctx["eep"])
    (tmp_path / "key.pem").write_bytes(service.app.get("/api/v1/bundle-key").body)
    assert main(["verify-eep", str(tmp_path / "item.eep.xml"), "--public-key", str(tmp_path / "key.pem")]) == 0


@then("封装包中被签名对象的一个字节被改动后，离线核验不通过")
def eep_tamper_caught(ctx, tmp_path) -> None:
    eep = ctx["eep"]
    at = eep.index("<封装包创建单位>".encode()) + len("<封装包创建单位>".encode())
    (tmp_path / "item.eep.xml").write_bytes(eep[:at] + b"X" + eep[at + 1:])
    assert main(["verify-eep", str(tmp_path / "item.eep.xml"), "--public-key", str(tmp_path / "key.pem")]) == 1


@when(parsers.parse('审计人员"{who}"导出第一件档案的 DA/T 48 封装包'))
def auditor_exports_eep(service, ctx, who: str) -> None:
    export_eep(service, ctx, who)


@then("封装包通过 DA/T 48 附录A 的模式校验")
def eep_validates(ctx) -> None:
    from invoice_archive.archive.eep import validate_eep

    assert validate_eep(ctx["eep"]) == []


@then("封装包的证书块中是签名公钥的 X.509 证书")
def eep_certificate(service, ctx) -> None:
    from invoice_archive.archive.eep import verify_eep

    key = service.app.get("/api/v1/bundle-key").body
    checks = {c.code: c for c in verify_eep(ctx["eep"], key)}
    assert checks["eep_certificate"].result == "pass", checks["eep_certificate"]
    assert all(c.result == "pass" for c in checks.values()), checks


@then("修改型封装包保留原封装包，同样通过模式校验和离线核验")
def modified_eep(service, ctx) -> None:
    from invoice_archive.archive.eep import validate_eep, verify_eep

    modified = service.app.get(f"/api/v1/archive/items/{ctx['item']['id']}/eep", params={"type": "modified"},
                               headers=service.headers("王审计")).body
    assert "修改型".encode() in modified and "原封装包".encode() in modified
    assert validate_eep(modified) == []
    key = service.app.get("/api/v1/bundle-key").body
    checks = verify_eep(modified, key)
    assert all(c.result == "pass" for c in checks), [c for c in checks if c.result != "pass"]
    assert "eep_original_signature" in {c.code for c in checks}


# -- an interrupted run ---------------------------------------------------------------

@given(parsers.parse("2024年7月已有{n:d}张记账凭证入账"))
def many_vouchers(service, n: int) -> None:
    for i in range(1, n + 1):
        _posted(service, f"2499200000000{i:07d}", f"{i:04d}")


@given("档案员用命令行归档2024年7月时，进程在写入部分归档包后被强行终止（kill -9）")
def killed_run(service, ctx) -> None:
    import time

    from tests.support.process import kill9, start_cli

    def packages() -> list[Path]:   # whole objects only: a write cut short stays a ".tmp-" file
        return [p for p in service.stored_files() if "packages" in p.parts and not p.name.startswith(".tmp-")]

    prepare_archiving(service, 2024, 7)
    run = start_cli(["archive-run", "--org", "Z001", "--year", "2024", "--period", "7", "--by", "赵档案"],
                    service.db_url, service.store_dir)
    deadline = time.monotonic() + 120
    while len(packages()) < 2 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert kill9(run) == -9, "the run ended before it could be killed"
    ctx["written"] = {p.name: p.read_bytes() for p in packages()}
    assert ctx["written"]


@then(parsers.parse('{n:d}件档案全部归档，件号从"{first}"到"{last}"连续且不重复'))
def all_archived(service, ctx, n: int, first: str, last: str) -> None:
    items = service.app.get("/api/v1/archive/items?fiscal_year=2024&period=7&limit=200",
                            headers=service.headers("王审计")).json
    numbers = sorted(i["archival_code"][-4:] for i in items["items"])
    assert items["total"] == n and numbers == [f"{k:04d}" for k in range(int(first), int(last) + 1)]
    assert len({i["voucher_id"] for i in items["items"]}) == n


@then("中断时已写入存储的归档包经四性检测核验后被认领，不重写、不覆盖")
def adopted_as_they_were(service, ctx) -> None:
    by_name = {p.name: p.read_bytes() for p in service.stored_files() if "packages" in p.parts}
    for name, data in ctx["written"].items():
        assert by_name[name] == data                  # the same bytes, never rewritten
    archived = [r for r in ctx["run"]["archived"] if f"{r['archival_code']}.zip" in ctx["written"]]
    assert len(archived) == len(ctx["written"])
    assert all(r["checks"]["passed"] for r in archived)


@then("运行固定性审计，没有缺失、不符或未登记的对象")
def fixity_clean(service, ctx, monkeypatch, capsys) -> None:
    run_fixity(service, ctx, monkeypatch, capsys)
    assert ctx["exit"] == 0, ctx["out"]
