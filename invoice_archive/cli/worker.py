"""`invoice-archive worker` (sends the outbox) and `invoice-archive sync` (pulls the
accounting system's vouchers). Several workers may run at once: each message is
leased by one of them (SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL)."""
from __future__ import annotations

import argparse
import logging
import signal
import time
from typing import Any

from pyramid.path import DottedNameResolver

log = logging.getLogger(__name__)


def build(args: argparse.Namespace, *, need_accounting: bool) -> tuple[Any, Any, Any, Any]:
    """Sessions, the accounting system and the tax platform the settings name, and
    the settings. Each adapter gets its own options (accounting.*, taxplatform.*)."""
    from invoice_archive.cli import load_settings
    from invoice_archive.db import make_engine, session_factory

    settings = load_settings(args.config)
    resolve = DottedNameResolver().maybe_resolve
    backend, platform_name = settings.accounting.backend, settings.taxplatform.backend
    accounting = resolve(backend)(settings.accounting.options) if backend else None
    platform = resolve(platform_name)(settings.taxplatform.options) if platform_name else None
    if need_accounting and accounting is None:
        raise SystemExit("accounting.backend (ACCOUNTING_BACKEND) is not set: there is no accounting system to talk to")
    return session_factory(make_engine(settings.database.url)), accounting, platform, settings


def run_status(args: argparse.Namespace) -> int:
    """The outbox as an operator sees it: counts by topic and state, and every
    message that needs a person (stuck, refused) or keeps failing."""
    import json

    from invoice_archive.cli import load_settings
    from invoice_archive.db import make_engine, session_factory
    from invoice_archive.services.posting import outbox_status

    engine = make_engine(load_settings(args.config).database.url)
    try:
        with session_factory(engine)() as db:
            status = outbox_status(db)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(status, ensure_ascii=False, indent=2))
    else:
        print("发件箱（outbox）状态：")
        for row in status["counts"]:
            print(f"  {row['topic']:<24} {row['status']:<8} {row['count']}")
        if not status["attention"]:
            print("没有需要人工处理的消息。")
        for m in status["attention"]:
            print(f"  [{m['state_zh']}] #{m['id']} {m['topic']} {m['external_ref']} 报销单 {m.get('claim_number') or '-'}"
                  f" 尝试 {m['attempts']} 次：{m['last_error'] or m['last_outcome'] or ''}")
    return 1 if any(m["state"] == "stuck" for m in status["attention"]) else 0


def run_worker(args: argparse.Namespace) -> int:
    if args.status:
        return run_status(args)
    from invoice_archive.outbox import WorkerPolicy
    from invoice_archive.services.posting import build_worker

    sessions, accounting, platform, settings = build(args, need_accounting=False)
    # with an accounting backend the mapping is complete (settings.parse() checked it)
    worker = build_worker(sessions, accounting, settings.posting.mapping if accounting else None,
                          taxplatform=platform, posting_purpose=settings.taxplatform.posting_purpose,
                          policy=WorkerPolicy.from_settings(settings.worker),
                          posted_when=settings.accounting.posted_when)
    signer = _signer(settings)
    if accounting is None and platform is None:
        log.warning("neither accounting.backend nor taxplatform.backend is set: "
                    "the worker only links the audit log")
    stop = False

    def _stop(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    while True:
        n = worker.run_once()
        if n:
            print(f"processed {n} outbox message(s)", flush=True)
        linked = link_audit_log(sessions, signer)
        if linked:
            print(f"linked {linked} audit event(s)", flush=True)
        if args.once or stop:
            return 0
        time.sleep(args.poll)


def _signer(settings: Any) -> Any:
    """The bundle key, which also signs the audit log's checkpoints (None when not configured)."""
    from invoice_archive.bundle import signer_from_settings

    return signer_from_settings(settings.bundle) if settings.bundle.signing_key is not None else None


def link_audit_log(sessions: Any, signer: Any) -> int:
    """One sequencer pass over every organisation (skipping one another worker is linking)."""
    from invoice_archive.services.audit import AuditSequencer

    with sessions() as db, db.begin():
        return AuditSequencer(db, signer=signer).link()


def run_sync(args: argparse.Namespace) -> int:
    from invoice_archive.services.posting import SyncService

    sessions, accounting, _, settings = build(args, need_accounting=True)
    counts = SyncService(sessions, accounting, posted_when=settings.accounting.posted_when).run_once()
    print(f"sync {accounting.name}: {counts['seen']} change(s) seen, {counts['linked']} voucher(s) linked")
    return 0


def add_parser(sub: Any) -> None:
    worker = sub.add_parser("worker", help="send the outbox to the accounting system (posting, reversals)")
    worker.add_argument("--once", action="store_true", help="process what is due, then exit")
    worker.add_argument("--poll", type=float, default=2.0, help="seconds between polls (default 2)")
    worker.add_argument("--status", action="store_true",
                        help="print the outbox's state and the messages that need a person, then exit "
                             "(exit code 1 when a message is stuck)")
    worker.add_argument("--json", action="store_true", help="with --status: as JSON")
    worker.set_defaults(func=run_worker)
    sync = sub.add_parser("sync", help="pull vouchers that reached accounting.posted_when in the accounting system "
                                       "and link them to claims")
    sync.set_defaults(func=run_sync)
