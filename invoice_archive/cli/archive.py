"""`invoice-archive archive-run` (归档 a period), `invoice-archive transfer export|check`
(移交) and `invoice-archive appraisal`."""
from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any


def _service(args: argparse.Namespace) -> tuple[Any, Any]:
    from invoice_archive.archive.stores import store_from_url
    from invoice_archive.archive.virus import scanner_from_settings
    from invoice_archive.cli import load_settings
    from invoice_archive.db import make_engine, session_factory
    from invoice_archive.services.admin import find_org
    from invoice_archive.services.archive import ArchiveService
    from invoice_archive.services.audit import AuditLog

    settings = load_settings(args.config)
    db = session_factory(make_engine(settings.database.url))()
    org = find_org(db, args.org)
    if org is None:
        raise SystemExit(f"organisation {args.org} not found (give its tax ID, fonds code or id)")
    actor = args.by
    archive = settings.archive
    service = ArchiveService(db, store_from_url(archive.store_url, archive.s3),
                             AuditLog(db, org_id=org.id, actor=actor, role="archivist"), org_id=org.id,
                             actor=actor, retention_years=archive.retention_years("voucher"),
                             class_scheme=archive.class_scheme, scanner=scanner_from_settings(archive.clamav))
    return db, service


def run_archive(args: argparse.Namespace) -> int:
    """Archive one period, as POST /api/v1/archive/runs does. Safe to run again
    after it was interrupted (even by kill -9): the packages it had stored are
    checked and adopted, numbering stays gap-free."""
    from invoice_archive.errors import DomainError

    db, service = _service(args)
    explanations = dict(_explanation(e) for e in args.explain or ())
    with db:
        try:
            run = service.archive_period(args.year, args.period, explanations=explanations)
        except DomainError as exc:     # e.g. archive_period_unsettled: nothing was archived
            print(f"未归档（{exc.code}）：{exc.message}")
            return 1
        db.commit()
    print(f"{args.year}年{args.period}月：归档 {len(run.archived)} 件，此前已归档 {len(run.already)} 件，"
          f"未归档 {len(run.failed)} 件")
    for item in run.archived:
        print(f"  {item.archival_code}  {item.package_sha256}")
    for f in run.failed:
        print(f"  未归档（{f['code']}）：{f['message']}")
    for e in run.explained:
        print(f"  已说明：{e['reference']}：{e['explanation']}")
    return 1 if run.failed else 0


def _explanation(text: str) -> tuple[str, str]:
    ref, sep, why = text.partition("=")
    if not sep or not ref.strip() or not why.strip():
        raise SystemExit(f"--explain takes REFERENCE=REASON, got {text!r}")
    return ref.strip(), why.strip()


def run_export(args: argparse.Namespace) -> int:
    db, service = _service(args)
    with db:
        data, n = service.transfer(args.year, transferred_by=args.by)
        db.commit()    # the audit event of the transfer
    Path(args.out).write_bytes(data)
    print(f"移交包 {args.out}：{n} 件，{len(data)} 字节")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from invoice_archive.archive.transfer import check_transfer
    from invoice_archive.archive.virus import scanner_from_settings
    from invoice_archive.cli import load_settings

    clamav = load_settings(args.config).archive.clamav
    report = check_transfer(Path(args.file).read_bytes(), scanner=scanner_from_settings(clamav))
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print(f"接收检测：{report.items} 件，{report.passed} 件通过四性检测")
        for problem in report.problems:
            print(f"  问题：{problem}")
        for code, failures in report.item_failures.items():
            print(f"  {code} 未通过：{', '.join(failures)}")
    return 0 if report.ok else 1


def run_appraisal(args: argparse.Namespace) -> int:
    db, service = _service(args)
    as_of = dt.date.fromisoformat(args.as_of) if args.as_of else dt.date.today()
    with db:
        items = service.appraisal(as_of)
        rows = [{"archival_code": i.archival_code, "retention": i.retention,
                 "retention_until": i.retention_until.isoformat()} for i in items]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        print(f"截至 {as_of}，保管期限已满、待鉴定的档案 {len(rows)} 件：")
        for row in rows:
            print(f"  {row['archival_code']}  {row['retention']}  期满 {row['retention_until']}")
    return 0


def add_parser(sub: Any) -> None:
    archive = sub.add_parser("archive-run", help="archive a period (归档): one item per posted voucher")
    archive.add_argument("--org", required=True, help="the organisation's tax ID, fonds code or id")
    archive.add_argument("--year", type=int, required=True)
    archive.add_argument("--period", type=int, required=True)
    archive.add_argument("--by", default="档案管理员", help="who archives (recorded on the items and the audit log)")
    archive.add_argument("--explain", action="append", metavar="REFERENCE=REASON",
                         help="explain a voucher of the period not yet posted (its external reference, as "
                              "archive_period_unsettled names it); repeatable")
    archive.set_defaults(func=run_archive)
    transfer = sub.add_parser("transfer", help="transfer (移交) a year's archive, or check a transfer package")
    tsub = transfer.add_subparsers(dest="transfer_command", required=True)
    export = tsub.add_parser("export", help="write a year's transfer package with its 移交清册")
    export.add_argument("--org", required=True, help="the organisation's tax ID, fonds code or id")
    export.add_argument("--year", type=int, required=True)
    export.add_argument("--out", required=True)
    export.add_argument("--by", default="档案管理员", help="who transfers (recorded in the list and the audit log)")
    export.set_defaults(func=run_export)
    check = tsub.add_parser("check", help="the receiving side's four-property check of a transfer package")
    check.add_argument("file")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=run_check)
    appraisal = sub.add_parser("appraisal", help="list items whose retention period has ended (for 鉴定)")
    appraisal.add_argument("--org", required=True)
    appraisal.add_argument("--as-of", help="YYYY-MM-DD (default today)")
    appraisal.add_argument("--json", action="store_true")
    appraisal.add_argument("--by", default="档案管理员")
    appraisal.set_defaults(func=run_appraisal)
