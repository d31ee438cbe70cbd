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
    from invoice_archive.cli.worker import _signer
    from invoice_archive.models import AuditChainHead, AuditCheckpoint, AuditEvent, Organisation
    from invoice_archive.services.audit import AuditSequencer, chain_fields

    db, settings = _session(args)
    signer = _signer(settings)
    broken = 0
    with db:
        with db.begin():   # link what writers appended, as the worker would
            AuditSequencer(db, signer=signer).link(wait=True)
        for org in db.execute(select(Organisation).order_by(Organisation.id)).scalars():
            head = db.get(AuditChainHead, org.id)
            events = [{**chain_fields(e), "hash": e.hash, "prev_hash": e.prev_hash} for e in db.execute(
                select(AuditEvent).where(AuditEvent.org_id == org.id, AuditEvent.chain_seq.is_not(None))
                .order_by(AuditEvent.chain_seq)).scalars()]
            report = verify_chain(events, expected_head=head.hash if head else None)
            by_seq = {e["id"]: e["hash"] for e in events}
            checkpoints = list(db.execute(select(AuditCheckpoint).where(AuditCheckpoint.org_id == org.id)
                                          .order_by(AuditCheckpoint.seq)).scalars())
            bad_checkpoints = [cp.seq for cp in checkpoints
                               if by_seq.get(cp.seq) != cp.hash or not _checkpoint_signed(cp, signer)]
            ok = report.ok and not bad_checkpoints
            if args.json:
                print(json.dumps({"org": org.fonds_code, **report.to_dict(), "checkpoints": len(checkpoints),
                                  "bad_checkpoints": bad_checkpoints}, ensure_ascii=False))
            elif not report.ok:
                print(f"{org.fonds_code} {org.name}: 审计日志链断裂于第 {report.broken_index} 条（事件 "
                      f"{report.broken_id}）：{report.reason}")
            elif bad_checkpoints:
                print(f"{org.fonds_code} {org.name}: 签名检查点与链不符（第 {', '.join(map(str, bad_checkpoints))} 号）："
                      "链在检查点签发后被改写，或检查点签名无效")
            else:
                print(f"{org.fonds_code} {org.name}: 审计日志链完整，{report.checked} 条记录，链头 {report.head[:16]}…，"
                      f"{len(checkpoints)} 个签名检查点相符")
            broken += not ok
    return 1 if broken else 0


def _checkpoint_signed(cp: Any, signer: Any) -> bool:
    """A checkpoint's signature, checked with the configured bundle key when it
    is the key that signed it (a checkpoint of a retired key is checked by
    key fingerprint only: its public key lives with the auditors who kept it)."""
    import base64

    from invoice_archive.archive.chain import checkpoint_bytes
    from invoice_archive.bundle import verify_signature
    from invoice_archive.services.audit import cp_fields

    if signer is None or cp.key_id != signer.key_id():
        return True
    try:
        return verify_signature(signer.public_key_pem(), cp.algorithm, checkpoint_bytes(cp_fields(cp)),
                                base64.b64decode(cp.signature))
    except ValueError:
        return False


def run_audit_fixity(args: argparse.Namespace) -> int:
    from sqlalchemy import select
    from tqdm import tqdm

    from invoice_archive.archive.fixity import audit_fixity
    from invoice_archive.archive.stores import store_from_url
    from invoice_archive.models import ArchiveItem, DestroyedObject, Invoice

    db, settings = _session(args)
    store = store_from_url(settings.archive.store_url, settings.archive.s3)
    with db:
        # what a destruction removed on purpose (docs/disposition.md) is expected absent: its
        # tombstone keeps the digests; one still stored is a destruction not yet finished
        destroyed = set(db.execute(select(DestroyedObject.store_key)).scalars())
        # both digests the records keep: SHA-256 and SM3 (GB/T 32905)
        expected = [tuple(row) for row in db.execute(
            select(ArchiveItem.package_key, ArchiveItem.package_sha256, ArchiveItem.package_size,
                   ArchiveItem.package_sm3)) if row[0] not in destroyed]
        expected += [tuple(row) for row in db.execute(
            select(Invoice.storage_key, Invoice.sha256, Invoice.size_bytes, Invoice.sm3)) if row[0] not in destroyed]
    total = sum(row[2] or 0 for row in expected)
    with tqdm(total=total, unit="B", unit_scale=True, desc="fixity", disable=args.quiet or None,
              file=sys.stderr) as bar:
        report = audit_fixity(store, expected, progress=lambda key, nbytes: bar.update(nbytes),
                              look_for_unreferenced=True, workers=args.workers)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print(report.summary())
        for result in (*report.missing, *report.mismatched):
            print(f"  {result.status}: {result.key}")
        for key in report.unreferenced or ():
            print(f"  unreferenced: {key}")
        if destroyed & set(report.unreferenced or ()):
            print("  其中列入销毁清册而尚未删除的对象：销毁执行未完成，请重新执行"
                  "（invoice-archive destruction execute --org … --number …）。")
        if report.unreferenced:
            print("  未登记的对象多来自被中断的接收或归档：重新上传同一发票、重新运行该期归档，即会核验并认领；"
                  "其余请档案管理员核查。")
    return 0 if report.passed else 1


def run_verify_proof(args: argparse.Namespace) -> int:
    """Offline: is the event in the signed checkpoint? (no database, no network)"""
    import base64
    from pathlib import Path

    from invoice_archive.archive.chain import verify_inclusion
    from invoice_archive.bundle import verify_signature

    try:
        proof = json.loads(Path(args.proof).read_text(encoding="utf-8"))
        key = Path(args.public_key).read_bytes()
    except OSError as exc:
        print(f"无法读取 {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"证明文件不是 JSON：{exc}", file=sys.stderr)
        return 2

    def signed(data: bytes, signature: Any, checkpoint: Any) -> bool:
        try:
            return verify_signature(key, checkpoint["algorithm"], data, base64.b64decode(signature or ""))
        except (ValueError, TypeError):
            return False

    if not isinstance(proof, dict) or not isinstance(proof.get("event"), dict) \
            or not isinstance(proof.get("checkpoint"), dict) or not isinstance(proof.get("path"), list):
        print("证明文件缺少 event / path / checkpoint", file=sys.stderr)
        return 2
    report = verify_inclusion(proof["event"], proof["path"], proof["checkpoint"], verify_signature=signed)
    event, cp = proof["event"], proof["checkpoint"]
    if args.json:
        print(json.dumps({**report.to_dict(), "event": event.get("id"), "checkpoint": cp.get("seq")},
                         ensure_ascii=False))
    elif report.ok:
        print(f"通过：审计事件第 {event.get('id')} 号（{event.get('action')}）包含在 {cp.get('at')} 签发的"
              f"第 {cp.get('seq')} 号检查点中，签名密钥 {str(cp.get('key_id'))[:16]}…")
    else:
        print(f"未通过：{report.reason}")
    return 0 if report.ok else 1


def add_parser(sub: Any) -> None:
    proof = sub.add_parser("verify-audit-proof",
                           help="offline check that an audit event is in a signed checkpoint (exit 1 if not)")
    proof.add_argument("proof", metavar="PROOF.json", help="GET /api/v1/audit/events/{id}/proof")
    proof.add_argument("--public-key", metavar="KEY", required=True,
                       help="the service's published public key (PEM, GET /api/v1/bundle-key)")
    proof.add_argument("--json", action="store_true")
    proof.set_defaults(func=run_verify_proof)
    verify = sub.add_parser("audit-verify", help="check the audit log's hash chain (exit 1 when broken)")
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(func=run_audit_verify)
    fixity = sub.add_parser("audit-fixity", help="re-hash every stored object against the database, and list stored objects no "
                                   "record references (exit 1 on loss or an unreferenced object)")
    fixity.add_argument("--json", action="store_true")
    fixity.add_argument("--quiet", action="store_true", help="no progress bar")
    fixity.add_argument("--workers", type=int, default=None,
                        help="objects fetched and hashed at once (default: 1 for a filesystem store, 8 for an "
                             "object store, which answers each read after a round trip)")
    fixity.set_defaults(func=run_audit_fixity)
