"""Long operations of the records archive ended by a real kill -9, then run again
(docs/disposition.md, docs/records.md).

A destruction writes every tombstone before it removes anything; killed while removing,
the rerun removes the rest and archives the 销毁清册 once. A records run writes each
package before its transaction commits; killed in between, the rerun adopts the packages
(the same records, byte for byte), so 档号 stay unique and gap-free.
"""
from __future__ import annotations

import json
import time

from sqlalchemy import text

from invoice_archive.cli import main
from tests.support.process import INI, kill9, start_cli
from tests.support.records import APPRAISERS, SUPERVISORS, add_people, archive_records, receive_statement, waive

STATEMENTS = 60
# where ClamAV is installed the command scans and the waiver is not used; where it is not, it stands in
WAIVE = ["--waive", "GD-4-1,GD-4-2", "--waive-reason", "测试机未安装 ClamAV，病毒检测无法执行"]


def _rows(svc, sql: str, **params) -> list:
    with svc.engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def _packages(svc) -> set[str]:
    return {p.name for p in svc.stored_files() if "packages" in p.parts and not p.name.startswith(".tmp-")}


def _fixity(svc, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setenv("DATABASE_URL", svc.db_url)
    monkeypatch.setenv("ARCHIVE_STORE_URL", svc.store_dir.as_uri())
    capsys.readouterr()
    code = main(["-c", str(INI), "audit-fixity", "--quiet"])
    return code, capsys.readouterr().out


def _statements(svc, n: int) -> list[dict]:
    for i in range(n):
        receive_statement(svc, year=2014, month=3, account=f"62166000000000{i:05d}")
    return archive_records(svc, 2014, 3, sources=["intake"]).json["archived"]


def test_a_destruction_killed_while_removing_completes_when_run_again(service, monkeypatch, capsys):
    svc = service
    add_people(svc)
    items = _statements(svc, STATEMENTS)
    appraisal = svc.app.post_json("/api/v1/archive/appraisals", {"participants": APPRAISERS, "opinion": "可以销毁",
                                                                 **waive(svc)}, headers=svc.headers("赵档案")).json
    d = svc.app.post_json("/api/v1/archive/destructions", {"appraisal_id": appraisal["id"]},
                          headers=svc.headers("赵档案")).json
    for who, capacity in (("李审核", "会计管理机构负责人"), ("陈审批", "单位负责人")):
        svc.app.post_json(f"/api/v1/archive/destructions/{d['id']}/approve", {"capacity": capacity},
                          headers=svc.headers(who))
    listed = {i["archival_code"] + ".zip" for i in items}
    assert listed <= _packages(svc)
    supervise = [f"--supervisor={s['name']}={s['unit']}" for s in SUPERVISORS]
    run = start_cli(["destruction", "execute", "--org", "Z001", "--number", d["number"], *supervise,
                     "--counted", str(STATEMENTS), *WAIVE], svc.db_url, svc.store_dir)
    deadline = time.monotonic() + 120
    while len(listed & _packages(svc)) == len(listed) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    status = kill9(run)
    left = len(listed & _packages(svc))
    assert status == -9, f"the execution ended by itself before it could be killed: {run.stdout.read()} {run.stderr.read()}"
    assert 0 < left < len(listed), left
    # every tombstone was committed before anything was removed; the list is not yet archived
    assert _rows(svc, "SELECT count(*) FROM archive_tombstones")[0][0] == STATEMENTS
    assert _rows(svc, "SELECT status FROM destructions")[0][0] == "executing"
    assert _rows(svc, "SELECT count(*) FROM archive_items WHERE record_kind = 'destruction_list'")[0][0] == 0
    code, out = _fixity(svc, monkeypatch, capsys)
    assert code == 1 and "销毁执行未完成" in out          # what is still stored is named
    # run again: it resumes without the 监销 details (recorded already) and finishes once
    again = start_cli(["destruction", "execute", "--org", "Z001", "--number", d["number"], *WAIVE], svc.db_url,
                      svc.store_dir)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, out + err
    assert not listed & _packages(svc)
    final = svc.app.get(f"/api/v1/archive/destructions/{d['id']}", headers=svc.headers("王审计")).json
    assert final["status"] == "destroyed" and final["list_item"]["retention"] == "Y"
    assert _rows(svc, "SELECT count(*) FROM archive_items WHERE record_kind = 'destruction_list'")[0][0] == 1
    assert _fixity(svc, monkeypatch, capsys)[0] == 0


def test_a_records_run_killed_midway_completes_when_run_again(service, monkeypatch, capsys):
    svc = service
    for i in range(STATEMENTS):
        receive_statement(svc, year=2024, month=2, account=f"62166000000000{i:05d}")
    args = ["archive-records", "--org", "Z001", "--year", "2024", "--period", "2", "--source", "intake", *WAIVE]
    run = start_cli(args, svc.db_url, svc.store_dir)
    deadline = time.monotonic() + 120
    while len(_packages(svc)) < 5 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    status = kill9(run)
    assert status == -9, f"the run ended by itself before it could be killed: {run.stdout.read()}"
    written = len(_packages(svc))
    assert 5 <= written < STATEMENTS
    assert _rows(svc, "SELECT count(*) FROM archive_items")[0][0] == 0     # the transaction died with it
    again = start_cli(args, svc.db_url, svc.store_dir)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, out + err
    codes = [r[0] for r in _rows(svc, "SELECT archival_code FROM archive_items ORDER BY item_no")]
    assert codes == [f"Z001-QT·2024·D10-0002-{n:04d}" for n in range(1, STATEMENTS + 1)]
    details = [d if isinstance(d, dict) else json.loads(d)
               for (d,) in _rows(svc, "SELECT detail FROM audit_events WHERE action = 'archive.archived'")]
    adopted = sum(1 for d in details if d.get("adopted_from_interrupted_run"))
    assert adopted == written
    assert _fixity(svc, monkeypatch, capsys)[0] == 0
