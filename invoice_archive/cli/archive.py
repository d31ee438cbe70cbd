"""`invoice-archive archive-run` (归档 a period's vouchers), `archive-records` (its ledgers,
reports and bank statements), `transfer export|check` (移交), `appraisal` (the items due for
鉴定) and `destruction execute` (销毁, resumable): docs/records.md, docs/disposition.md."""
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


def _context(args: argparse.Namespace) -> tuple[Any, Any, Any, Any, Any]:
    """(session factory, session, organisation, settings, raw store) for the commands below."""
    from invoice_archive.archive.stores import store_from_url
    from invoice_archive.cli import load_settings
    from invoice_archive.db import make_engine, session_factory
    from invoice_archive.services.admin import find_org

    settings = load_settings(args.config)
    sessions = session_factory(make_engine(settings.database.url))
    db = sessions()
    org = find_org(db, args.org)
    if org is None:
        raise SystemExit(f"organisation {args.org} not found (give its tax ID, fonds code or id)")
    return sessions, db, org, settings, store_from_url(settings.archive.store_url, settings.archive.s3)


def _filing(db: Any, org: Any, settings: Any, store: Any, actor: str) -> Any:
    from invoice_archive.archive.virus import scanner_from_settings
    from invoice_archive.services.audit import AuditLog
    from invoice_archive.services.filing import Filing

    return Filing(db, store, AuditLog(db, org_id=org.id, actor=actor, role="archivist"), org_id=org.id,
                  actor=actor, retention=settings.archive.retention,
                  scanner=scanner_from_settings(settings.archive.clamav))


def _waivers(args: argparse.Namespace) -> list[Any]:
    from invoice_archive.services.filing import waivers_from

    if not args.waive:
        return []
    return waivers_from({"checks": args.waive.split(","), "reason": args.waive_reason}, args.by)


def run_records(args: argparse.Namespace) -> int:
    """Archive one period's ledgers and reports (from the accounting system) and bank
    statements (from intake), as POST /api/v1/archive/records does; safe to run again
    after an interruption (the packages it stored are checked and adopted)."""
    from pyramid.path import DottedNameResolver

    from invoice_archive.errors import DomainError
    from invoice_archive.services.records import RecordService

    sessions, db, org, settings, store = _context(args)
    backend = settings.accounting.backend
    adapter = DottedNameResolver().maybe_resolve(backend)(settings.accounting.options) if backend else None
    with db:
        service = RecordService(_filing(db, org, settings, store, args.by), accounting=adapter, source_name=backend)
        try:
            run = service.archive_period(args.year, args.period, sources=args.source or None,
                                         waivers=_waivers(args))
        except DomainError as exc:
            print(f"未归档（{exc.code}）：{exc.message}")
            return 1
        db.commit()
        print(f"{args.year}年{args.period}月（{'、'.join(run.sources)}）：归档 {len(run.archived)} 件，此前已归档 "
              f"{len(run.already)} 件，未归档 {len(run.failed)} 件")
        for item in run.archived:
            print(f"  {item.archival_code}  {item.title}  {item.retention}")
        for f in run.failed:
            print(f"  未归档（{f['code']}）：{f['message']}")
    return 1 if run.failed else 0


def run_export(args: argparse.Namespace) -> int:
    """A completed transfer's package (its items and the signed 移交清册), by number or year."""
    from sqlalchemy import select

    from invoice_archive.bundle import signer_from_settings
    from invoice_archive.models import Transfer, TransferStatus
    from invoice_archive.services.audit import AuditLog
    from invoice_archive.services.transfers import TransferService

    sessions, db, org, settings, store = _context(args)
    with db:
        stmt = select(Transfer).where(Transfer.org_id == org.id, Transfer.status == TransferStatus.COMPLETED)
        stmt = stmt.where(Transfer.number == args.number) if args.number else \
            stmt.where(Transfer.fiscal_year == args.year)
        transfer = db.execute(stmt.order_by(Transfer.id.desc())).scalars().first()
        if transfer is None:
            print(f"没有已完成签署的移交（{args.number or f'{args.year} 年度'}）：移交清册须由移交人、接收人和监交人签署"
                  f"（POST /api/v1/archive/transfers/{{id}}/sign）。")
            return 1
        signer = signer_from_settings(settings.bundle) if settings.bundle.signing_key else None
        filing = _filing(db, org, settings, store, args.by)
        service = TransferService(filing, person_id=None, role="archivist", signer=signer)
        transfer, data = service.package(transfer.id)
        db.commit()    # the audit event of the download
    Path(args.out).write_bytes(data)
    print(f"移交包 {args.out}：{transfer.number}，{len([e for e in transfer.entries if e.released_at is None])} 件，"
          f"{len(data)} 字节")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from invoice_archive.archive.transfer import check_transfer
    from invoice_archive.archive.virus import scanner_from_settings
    from invoice_archive.cli import load_settings

    clamav = load_settings(args.config).archive.clamav
    key = Path(args.public_key).read_bytes() if args.public_key else None
    report = check_transfer(Path(args.file).read_bytes(), scanner=scanner_from_settings(clamav), public_key_pem=key)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print(f"接收检测：{report.items} 件，{report.passed} 件通过四性检测；移交清册签名"
              f"{'已核验' if report.signature == 'checked' else '未核验（未给出移交方公布的公钥 --public-key）'}")
        for problem in report.problems:
            print(f"  问题：{problem}")
        for code, failures in report.item_failures.items():
            print(f"  {code} 未通过：{', '.join(failures)}")
    return 0 if report.ok else 1


def run_appraisal(args: argparse.Namespace) -> int:
    """The items whose retention has ended by --as-of (a preview: the appraisal itself, with its
    鉴定意见书, is POST /api/v1/archive/appraisals)."""
    from invoice_archive.services.disposition import DispositionService

    sessions, db, org, settings, store = _context(args)
    as_of = dt.date.fromisoformat(args.as_of) if args.as_of else dt.date.today()
    with db:
        service = DispositionService(_filing(db, org, settings, store, args.by), person_id=None, role="archivist")
        items = service.due(as_of)
        rows = [{"archival_code": i.archival_code, "retention": i.retention,
                 "retention_until": i.retention_until.isoformat()} for i in items]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        print(f"截至 {as_of}，保管期限已满、待鉴定的档案 {len(rows)} 件：")
        for row in rows:
            print(f"  {row['archival_code']}  {row['retention']}  期满 {row['retention_until']}")
    return 0


def run_destruction(args: argparse.Namespace) -> int:
    """Execute an approved destruction list (or resume one that was interrupted): tombstones
    first, then the content removed from the store, then the final 销毁清册 archived."""
    from sqlalchemy import select

    from invoice_archive.archive.virus import scanner_from_settings
    from invoice_archive.errors import DomainError
    from invoice_archive.models import Destruction
    from invoice_archive.services.audit import AuditLog
    from invoice_archive.services.disposition import begin_execution, finish

    sessions, db, org, settings, store = _context(args)
    supervisors = [dict(zip(("name", "unit"), _pair(text))) for text in args.supervisor or ()]
    try:
        with db:
            destruction = db.execute(select(Destruction).where(
                Destruction.org_id == org.id, Destruction.number == args.number).with_for_update()).scalar_one_or_none()
            if destruction is None:
                print(f"没有销毁清册 {args.number}")
                return 1
            begin_execution(db, store, AuditLog(db, org_id=org.id, actor=args.by, role="archivist"), destruction,
                            actor=args.by, supervisors=supervisors, counted=args.counted)
            ident = destruction.id
            db.commit()         # phase 1: the tombstones, before anything is removed
        done = finish(sessions, store, scanner_from_settings(settings.archive.clamav), settings.archive.retention,
                      org_id=org.id, actor=args.by, role="archivist", destruction_id=ident, waivers=_waivers(args))
    except DomainError as exc:
        print(f"未完成（{exc.code}）：{exc.message}")
        return 1
    print(f"销毁清册 {done.number}：已销毁 {len(done.entries)} 件，销毁清册已归档")
    return 0


def _pair(text: str) -> tuple[str, str]:
    name, sep, unit = text.partition("=")
    if not sep or not name.strip() or not unit.strip():
        raise SystemExit(f"--supervisor takes NAME=UNIT, got {text!r}")
    return name.strip(), unit.strip()


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
    records = sub.add_parser("archive-records", help="archive a period's ledgers, reports and bank statements "
                                                       "(docs/records.md)")
    records.add_argument("--org", required=True, help="the organisation's tax ID, fonds code or id")
    records.add_argument("--year", type=int, required=True)
    records.add_argument("--period", type=int, required=True)
    records.add_argument("--source", action="append", choices=["accounting_system", "intake"],
                         help="where the records come from (default both with accounting.backend, else intake)")
    records.add_argument("--by", default="档案管理员", help="who archives (recorded on the items and the audit log)")
    _waive_arguments(records)
    records.set_defaults(func=run_records)
    transfer = sub.add_parser("transfer", help="a completed transfer's package (移交), or the receiver's check of one")
    tsub = transfer.add_subparsers(dest="transfer_command", required=True)
    export = tsub.add_parser("export", help="write a completed transfer's package with its signed 移交清册")
    export.add_argument("--org", required=True, help="the organisation's tax ID, fonds code or id")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--number", help="the transfer's number (YJ-2026-0001)")
    which.add_argument("--year", type=int, help="the latest completed transfer of this fiscal year")
    export.add_argument("--out", required=True)
    export.add_argument("--by", default="档案管理员", help="who exports (recorded in the audit log)")
    export.set_defaults(func=run_export)
    check = tsub.add_parser("check", help="the receiving side's check of a transfer package")
    check.add_argument("file")
    check.add_argument("--public-key", help="the sender's published key (/api/v1/bundle-key): checks the list's signature")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=run_check)
    destruction = sub.add_parser("destruction", help="execute an approved destruction list (销毁), or resume one")
    dsub = destruction.add_subparsers(dest="destruction_command", required=True)
    execute = dsub.add_parser("execute", help="tombstones, removal from the store, the final 销毁清册 archived")
    execute.add_argument("--org", required=True)
    execute.add_argument("--number", required=True, help="the destruction list's number (XH-2026-0001)")
    execute.add_argument("--supervisor", action="append", metavar="NAME=UNIT",
                         help="a 监销人 and their unit (档案管理机构, 会计管理机构, 信息系统管理机构); not needed to resume")
    execute.add_argument("--counted", type=int, help="items the supervisors counted against the list")
    execute.add_argument("--by", default="档案管理员")
    _waive_arguments(execute)
    execute.set_defaults(func=run_destruction)
    appraisal = sub.add_parser("appraisal", help="list items whose retention has ended (the appraisal itself: "
                                                  "POST /api/v1/archive/appraisals)")
    appraisal.add_argument("--org", required=True)
    appraisal.add_argument("--as-of", help="YYYY-MM-DD (default today)")
    appraisal.add_argument("--json", action="store_true")
    appraisal.add_argument("--by", default="档案管理员")
    appraisal.set_defaults(func=run_appraisal)


def _waive_arguments(parser: Any) -> None:
    parser.add_argument("--waive", metavar="GD-4-1,GD-4-2", help="checks that cannot be performed here, waived")
    parser.add_argument("--waive-reason", default="", help="why (recorded in the items' reports)")
