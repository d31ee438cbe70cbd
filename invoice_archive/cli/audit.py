"""`invoice-archive audit-verify` (the audit log's hash chain) and `invoice-archive
audit-fixity` (every stored object re-hashed against what the database recorded)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _session(args: argparse.Namespace) -> tuple[Any, Any]:
    from invoice_archive.cli import load_settings
    from invoice_archive.db import make_engine, session_factory

    settings = load_settings(args.config)
    return session_factory(make_engine(settings.database.url))(), settings


def run_audit_verify(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from invoice_archive.archive.chain import verify_chain
    from invoice_archive.models import AuditChainHead, AuditEvent, Organisation
    from invoice_archive.services.audit import chain_fields

    db, _ = _session(args)
    broken = 0
    with db:
        for org in db.execute(select(Organisation).order_by(Organisation.id)).scalars():
            head = db.get(AuditChainHead, org.id)
            events = [{**chain_fields(e), "hash": e.hash, "prev_hash": e.prev_hash} for e in db.execute(
                select(AuditEvent).where(AuditEvent.org_id == org.id, AuditEvent.chain_seq.is_not(None))
                .order_by(AuditEvent.chain_seq)).scalars()]
            report = verify_chain(events, expected_head=head.hash if head else None)
            if args.json:
                print(json.dumps({"org": org.fonds_code, **report.to_dict()}, ensure_ascii=False))
            elif report.ok:
                print(f"{org.fonds_code} {org.name}: 审计日志链完整，{report.checked} 条记录，链头 {report.head[:16]}…")
            else:
                print(f"{org.fonds_code} {org.name}: 审计日志链断裂于第 {report.broken_index} 条（事件 "
                      f"{report.broken_id}）：{report.reason}")
            broken += not report.ok
    return 1 if broken else 0


def run_audit_fixity(args: argparse.Namespace) -> int:
    from sqlalchemy import select
    from tqdm import tqdm

    from invoice_archive.archive.fixity import audit_fixity
    from invoice_archive.archive.stores import store_from_url
    from invoice_archive.models import ArchiveItem, Invoice

    db, settings = _session(args)
    store = store_from_url(settings.archive.store_url, settings.archive.s3)
    with db:
        expected = [(k, s, n) for k, s, n in db.execute(
            select(ArchiveItem.package_key, ArchiveItem.package_sha256, ArchiveItem.package_size))]
        expected += [(k, s, n) for k, s, n in db.execute(
            select(Invoice.storage_key, Invoice.sha256, Invoice.size_bytes))]
    total = sum(n or 0 for _, _, n in expected)
    with tqdm(total=total, unit="B", unit_scale=True, desc="fixity", disable=args.quiet or None,
              file=sys.stderr) as bar:
        report = audit_fixity(store, expected, progress=lambda key, nbytes: bar.update(nbytes),
                              look_for_unreferenced=True)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print(report.summary())
        for result in (*report.missing, *report.mismatched):
            print(f"  {result.status}: {result.key}")
        for key in report.unreferenced or ():
            print(f"  unreferenced: {key}")
        if report.unreferenced:
            print("  未登记的对象多来自被中断的接收或归档：重新上传同一发票、重新运行该期归档，即会核验并认领；"
                  "其余请档案管理员核查。")
    return 0 if report.passed else 1


def add_parser(sub: Any) -> None:
    verify = sub.add_parser("audit-verify", help="check the audit log's hash chain (exit 1 when broken)")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=run_audit_verify)
    fixity = sub.add_parser("audit-fixity", help="re-hash every stored object against the database, and list stored objects no "
                                   "record references (exit 1 on loss or an unreferenced object)")
    fixity.add_argument("--json", action="store_true")
    fixity.add_argument("--quiet", action="store_true", help="no progress bar")
    fixity.set_defaults(func=run_audit_fixity)
