"""Archiving a period: one item (件) per posted voucher, packaged as a BagIt bag."""
from __future__ import annotations

import datetime as dt
import json
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from invoice_archive import outbox
from invoice_archive.archive.checks import CHECKS, Waiver, check_package, expected_from_item
from invoice_archive.archive.codes import (
    DEFAULT_CLASS_SCHEME, RETENTION_YEARS, ArchivalCode, retention_code, retention_until,
    voucher_class_code,
)
from invoice_archive.archive.transfer import TransferItem, build_transfer
from invoice_archive.archive.metadata import claim_xml, four_property_summary, item_metadata_xml, voucher_xml
from invoice_archive.archive.posting_info import posting_info_xml
from invoice_archive.archive.package import ManifestEntry, PackageFile, build_bag, manifest_entry
from invoice_archive.archive.retention import CATEGORIES
from invoice_archive.archive.store import FileSystemStore, underlying_store
from invoice_archive.db import utcnow
from invoice_archive.digests import sha256_hex, sm3_hex
from invoice_archive.errors import Conflict, Invalid, StoreUnavailable
from invoice_archive.formats.normalize import invoice_number_keys
from invoice_archive.ports import IArchiveStore
from invoice_archive.models import (
    ArchiveCheckWaiver, ArchiveItem, AuditEvent, Claim, ClaimInvoice, ClaimStatus, Invoice, InvoiceStatus,
    InvoiceVoucherLink, OutboxMessage, OutboxStatus, Organisation, TaxCheck, Voucher,
)
from invoice_archive.posting import TOPIC_POST, TOPIC_REVERSE
from invoice_archive.posting.drafting import business_date
from invoice_archive.services.audit import AuditLog
from invoice_archive.services.filing import FourPropertyRefusal, archive_access
from invoice_archive.services.filing import ensure_not_destroyed
from invoice_archive.services.scoping import original_bytes, package_bytes, scoped_get
from invoice_archive.services.sequences import next_value, volume_item_numbers

EXT_MEDIA = {"ofd": "application/ofd", "xml": "application/xml", "pdf": "application/pdf"}
# a claim's sign-off steps as actions of the item's process (业务实体)
SIGNOFF_ACTIONS = {"经办": "claim.submitted", "审核": "claim.reviewed", "审批": "claim.approved", "退回": "claim.refused"}
# actions the item's process takes from the records (sign-offs, voucher rows), not from the audit log
DERIVED_ACTIONS = ("voucher.posted", "voucher.reversed")
# what each action of an item's process rests on (业务实体 依据, docs/metadata.md)
EVENT_BASIS = {
    "claim.submitted": "财会〔2020〕6号（经办）", "claim.reviewed": "财会〔2020〕6号（审核）",
    "claim.approved": "财会〔2020〕6号（审批）", "claim.created": "财会〔2020〕6号（填制报销单）", "claim.refused": "财会〔2020〕6号（退回）",
    "voucher.posted": "会计基础工作规范；财会〔2020〕6号（入账）",
    "voucher.reversed": "会计基础工作规范（红字冲销）",
    "voucher.reversal_requested": "会计基础工作规范（红字冲销）",
    "invoice.received": "财会〔2020〕6号（接收电子会计凭证）",
    "invoice.tax_checked": "财会〔2020〕6号（查验）",
}

_BASIS_BY_KIND = {"claim": "财会〔2020〕6号", "invoice": "财会〔2020〕6号", "voucher": "会计基础工作规范",
                  "archive": "DA/T 94-2022"}


def event_basis(action: str) -> str:
    """What an action rests on: its own entry, else its kind's rule."""
    return EVENT_BASIS.get(action) or _BASIS_BY_KIND.get(action.split(".", 1)[0], "DA/T 94-2022")


def signature_metadata(inv: Invoice) -> dict[str, Any]:
    """An original's electronic signature as the item's metadata records it: the
    verdict and who checked it, and the signature as the verifier read it (rule,
    time, signer, certificate, issuer, algorithm); empty for an unsigned invoice."""
    report = inv.verification or {}
    sig = next(iter(report.get("signatures") or []), None) or {}
    cert = sig.get("signer_certificate") or sig.get("seal_certificate") or {}
    version = sig.get("version")
    return {"object": inv.number or inv.business_key, "verdict": inv.verdict,
            "verified_at": report.get("verified_at"), "verifier": report.get("verifier_version"),
            "rule": SIGNATURE_RULES.get(version or "", version or ""),
            "signed_at": sig.get("signing_time") or "", "signer": cert.get("subject_cn") or cert.get("subject") or "",
            "certificate": (f"SHA-256:{cert['sha256']} 序列号:{cert.get('serial') or ''}" if cert.get("sha256") else ""),
            "issuer": cert.get("issuer_cn") or cert.get("issuer") or "",
            "algorithm": sig.get("signature_method") or cert.get("signature_algorithm") or ""}


SIGNATURE_RULES = {
    "v1": "GM/T 0031 电子印章 v1", "v4": "GM/T 0031 电子印章 v4", "v5": "GB/T 38540 电子印章",
    "gbt35275": "GB/T 35275 SM2 签名数据", "pkcs7": "PDF 签名（PKCS #7 / CMS）",
}




class FourPropertyFailure(FourPropertyRefusal):
    """A voucher's package refused by the four-property check: it is not archived."""

    def __init__(self, voucher: Voucher, report: Any) -> None:
        super().__init__(voucher.display_number, report)
        self.voucher = voucher

    def as_dict(self) -> dict[str, Any]:
        failing = [c for c in self.report["checks"] if c["result"] == "fail"]
        blocking = [c for c in self.report["checks"] if c["code"] in self.blocking]
        number = self.voucher.display_number
        if failing:
            message = (f"凭证 {number} 未通过四性检测，未归档：" +
                       "；".join(f"{c['code']} {c['detail']}" for c in failing))
        else:
            message = (f"凭证 {number} 的四性检测项 {'、'.join(self.blocking)} 未能执行，未登记归档："
                       + "；".join(f"{c['code']} {c['detail']}" for c in blocking)
                       + "。请使检测能够执行（如配置病毒扫描程序）后重新归档；确需先行归档的，由档案员登记豁免及理由"
                         f"（POST /api/v1/archive/waivers，voucher_id {self.voucher.id}）后重新归档。")
        return {"voucher_id": self.voucher.id, "voucher_number": number, "red_flag": self.voucher.red_flag,
                "code": self.code, "codes": self.codes or self.blocking, "not_performed": self.blocking,
                "message": message, "checks": failing + blocking}


class ArchivedMeanwhile(Exception):
    """Another run archived the voucher while this one waited for the counter."""

    def __init__(self, archival_code: str) -> None:
        super().__init__(archival_code)
        self.archival_code = archival_code


def _line(value: Any) -> Any:
    """A one-line metadata value: line breaks and tabs typed into a title or a name are
    layout, not content (DA/T 70 GD-1-6 refuses them in one-line values)."""
    return " ".join(value.split()) if isinstance(value, str) else value


def _event_text(event: AuditEvent) -> str:
    """An audit event's details, one line, for an EEP's 行为描述."""
    details = event.detail or {}
    return "；".join(f"{k}={v}" for k, v in sorted(details.items()) if v not in (None, "", [], {}))[:500]


def _s(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return None if value is None else str(value)


@dataclass
class ArchiveRun:
    """What a run did: items archived, codes archived before, vouchers not archived
    (with their codes), and the unsettled vouchers the archivist explained."""

    archived: list[ArchiveItem] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    explained: list[dict[str, Any]] = field(default_factory=list)


def waiver_of(row: ArchiveCheckWaiver) -> Waiver:
    return Waiver(code=row.check_code, reason=row.reason, waived_by=row.waived_by,
                  waived_at=row.waived_at.isoformat())


def _code_order(code: str) -> tuple[int, ...]:
    return tuple(int(x) for x in code.split("-")[1:])


def _already_waived(voucher: Voucher, existing: list[ArchiveCheckWaiver]) -> Conflict:
    first = existing[0]
    return Conflict(
        f"凭证 {voucher.display_number} 的检测项 {'、'.join(w.check_code for w in existing)} 已由 {first.waived_by} "
        f"于 {first.waived_at:%Y-%m-%d %H:%M} 登记豁免（理由：{first.reason}），不能重复登记。",
        code="waiver_already_recorded",
        detail={"voucher_id": voucher.id, "waivers": [waiver_of(w).to_dict() for w in existing]})


def _blue_before_red(vouchers: list[Voucher]) -> list[Voucher]:
    """Vouchers in their order, except that a red voucher comes after the voucher it
    reverses when both are in the list (its package names the blue one's 档号)."""
    ids = {v.id for v in vouchers}
    placed: set[int] = set()
    waiting: dict[int, list[Voucher]] = {}
    out: list[Voucher] = []

    def place(v: Voucher) -> None:
        out.append(v)
        placed.add(v.id)
        for red in waiting.pop(v.id, []):
            place(red)

    for v in vouchers:
        if v.red_flag and v.reverses_id in ids and v.reverses_id not in placed:
            waiting.setdefault(v.reverses_id, []).append(v)
        else:
            place(v)
    return out


def _reversed_not_archived(red: Voucher) -> dict[str, Any]:
    blue = red.reverses
    where = f"{blue.fiscal_year}年{blue.period}月" if blue is not None else "原凭证所在期间"
    number = blue.display_number if blue is not None else "?"
    return {"voucher_id": red.id, "voucher_number": red.display_number, "red_flag": True,
            "code": "reversed_voucher_not_archived", "codes": [], "not_performed": [],
            "reverses_voucher_id": red.reverses_id, "reverses_voucher_number": number,
            "message": f"红字冲销凭证 {red.display_number} 冲销的凭证 {number} 尚未归档：请先归档 {where}，"
                       f"再归档本期间，冲销凭证的档案将指向原凭证的档号。", "checks": []}


class OriginalsAhead:
    """The originals a run will package, read ahead from an object store by a few
    threads: each GET answers after a round trip, and the run would otherwise wait
    for three of them per voucher. At most ``window`` objects are on their way or
    waiting, so memory stays flat; a key the run passes by (a voucher it skips) is
    dropped. A filesystem store is read in turn: there is no round trip to hide.
    Every original is still checked against its intake SHA-256 by the reader."""

    def __init__(self, store: Any, keys: list[str], *, window: int = 24, threads: int = 8) -> None:
        self.store = store
        self.keys = iter(keys)
        self.window = window
        self.on_the_way: deque[tuple[str, Future[bytes]]] = deque()
        self.pool = (None if isinstance(underlying_store(store), FileSystemStore) or not keys
                     else ThreadPoolExecutor(threads, thread_name_prefix="originals"))

    def _fill(self) -> None:
        assert self.pool is not None
        while len(self.on_the_way) < self.window:
            key = next(self.keys, None)
            if key is None:
                return
            self.on_the_way.append((key, self.pool.submit(self.store.get, key)))

    def get(self, key: str) -> bytes:
        if self.pool is None:
            return self.store.get(key)
        self._fill()
        while self.on_the_way:
            ahead, future = self.on_the_way.popleft()
            if ahead == key:
                self._fill()
                return future.result()     # KeyError for a missing object, as store.get
            future.cancel()                # a voucher the run did not package
        return self.store.get(key)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


class ArchiveService:
    def __init__(self, db: Session, store: Any, audit: AuditLog, *, org_id: int, actor: str,
                 retention_years: int | None = RETENTION_YEARS["voucher"], class_scheme: str = DEFAULT_CLASS_SCHEME,
                 scanner: Any = None) -> None:
        self.db = db
        self.class_scheme = class_scheme
        self.scanner = scanner
        self._read_original: Any = None   # set while a run reads originals ahead
        self._history: _RunHistory | None = None   # set while a run archives a period
        self.store = store
        self.audit = audit
        self.org_id = org_id
        self.actor = actor
        self.retention_years = retention_years

    @classmethod
    def factory(cls, context: Any, request: Any) -> ArchiveService:
        ident = request.identity
        archive = request.registry.app_settings.archive
        return cls(request.db, request.find_service(IArchiveStore), AuditLog.for_request(request),
                   org_id=ident.org_id, actor=ident.name, retention_years=archive.retention_years("voucher"),
                   class_scheme=archive.class_scheme,
                   scanner=request.registry["archive.scanner"])   # built once, at start-up

    # -- reading -----------------------------------------------------------
    def get(self, item_id: Any) -> ArchiveItem:
        return scoped_get(self.db, ArchiveItem, item_id, self.org_id)

    def find(self, *, voucher_number: str | None = None, invoice_number: str | None = None,
             archival_code: str | None = None, fiscal_year: int | None = None, period: int | None = None,
             category: str | None = None, record_kind: str | None = None, archive_class: str | None = None,
             limit: int = 50, offset: int = 0) -> tuple[list[ArchiveItem], int]:
        """Items of every class (vouchers, ledgers, reports, other records: docs/records.md)."""
        stmt = select(ArchiveItem).outerjoin(Voucher, ArchiveItem.voucher_id == Voucher.id).where(
            ArchiveItem.org_id == self.org_id)
        if category:
            stmt = stmt.where(ArchiveItem.category == category)
        if record_kind:
            stmt = stmt.where(ArchiveItem.record_kind == record_kind)
        if archive_class:
            stmt = stmt.where(ArchiveItem.class_code.startswith(f"{archive_class}·"))
        if voucher_number:
            word, _, num = voucher_number.rpartition("-")
            stmt = stmt.where(Voucher.voucher_number == num)
            if word:
                stmt = stmt.where(Voucher.voucher_word == word)
        if invoice_number:   # in any form, as the auditors' search reads it (formats/normalize.py)
            numbers, keys = invoice_number_keys(invoice_number)
            stmt = stmt.where(Voucher.id.in_(
                select(InvoiceVoucherLink.voucher_id).join(Invoice, Invoice.id == InvoiceVoucherLink.invoice_id)
                .where(Invoice.org_id == self.org_id,
                       Invoice.number.in_(numbers) | Invoice.business_key.in_(keys))))
        if archival_code:
            stmt = stmt.where(ArchiveItem.archival_code == archival_code)
        if fiscal_year:
            stmt = stmt.where(ArchiveItem.fiscal_year == fiscal_year)
        if period:
            stmt = stmt.where(ArchiveItem.period == period)
        total = self.db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        items = self.db.execute(stmt.order_by(ArchiveItem.archival_code).limit(limit).offset(offset)).scalars()
        return list(items), total

    def related(self, items: Iterable[ArchiveItem]) -> dict[int, dict[str, Any]]:
        """What an item's rendering shows beside the row: the voucher a red voucher's
        item reverses, and the red voucher reversing a blue one, each with its
        current item (None while it is not archived)."""
        items = list(items)
        none = {"reverses": None, "reversed_by": None}
        records = {i.id: dict(none) for i in items if i.voucher_id is None}
        items = [i for i in items if i.voucher_id is not None]
        vouchers = {i.voucher_id: i.voucher for i in items}
        reds = self.db.execute(select(Voucher).where(
            Voucher.reverses_id.in_(list(vouchers)))).scalars().all() if vouchers else []
        by_blue = {r.reverses_id: r for r in reds}
        others = {v.reverses_id for v in vouchers.values() if v.reverses_id} | {r.id for r in reds}
        current = dict(self.db.execute(select(ArchiveItem.voucher_id, ArchiveItem).where(
            ArchiveItem.voucher_id.in_(list(others)), ArchiveItem.withdrawn_at.is_(None))).all()) if others else {}

        def link(v: Voucher | None) -> dict[str, Any] | None:
            if v is None:
                return None
            other = current.get(v.id)
            return {"voucher_id": v.id, "voucher_number": v.display_number, "fiscal_year": v.fiscal_year,
                    "period": v.period, "archive_item_id": other.id if other else None,
                    "archival_code": other.archival_code if other else None}

        return {**records, **{i.id: {"reverses": link(i.voucher.reverses) if i.voucher.red_flag else None,
                                     "reversed_by": link(by_blue.get(i.voucher_id))} for i in items}}

    def bundle(self, item_id: int) -> tuple[ArchiveItem, bytes]:
        item = self.get(item_id)
        ensure_not_destroyed(self.db, item)
        data = self._stored_package(item)
        self.audit.record("archive.downloaded", "archive_item", item.archival_code, sha256=item.package_sha256)
        return item, data

    def _stored_package(self, item: ArchiveItem) -> bytes:
        return package_bytes(self.store, item)

    def eep(self, item_id: int, signer: Any, certificate: bytes | None = None, *,
            modified: bool = False) -> tuple[ArchiveItem, bytes]:
        """The item as a DA/T 48 electronic-record encapsulation, rendered from its
        package (checked for fixity first) and signed with the bundle key, whose
        certificate goes into 证书. ``modified``: a 修改型 EEP, the 原始型 kept inside
        and a layer recording what happened to the item since it was archived."""
        from invoice_archive.archive.eep import build_eep, build_modified_eep
        from invoice_archive.bundle.certificate import self_signed_certificate
        from invoice_archive.services.bundles import SigningUnconfigured

        item = self.get(item_id)   # a wrong id is a 404 whatever the configuration
        ensure_not_destroyed(self.db, item)
        if signer is None:
            raise SigningUnconfigured("签名密钥未配置（bundle.signing_key），暂不能生成 DA/T 48 封装包，请联系管理员。",
                                      code="bundle_signing_unconfigured", status=503)
        certificate = certificate or self_signed_certificate(signer)
        data = self._stored_package(item)
        org = self.db.get(Organisation, self.org_id)
        eep = build_eep(data, unit_name=org.name, unit_code=org.tax_id, created=item.archived_at, signer=signer,
                        certificate=certificate)
        if modified:
            now = utcnow()
            events = [{"action": e.action, "at": e.at.isoformat(), "actor": _line(e.actor),
                       "description": _event_text(e), "basis": "DA/T 94-2022（电子会计档案管理）"}
                      for e in self._events_since_archiving(item)]
            events.append({"action": "archive.eep_modified", "at": now.isoformat(), "actor": _line(self.actor),
                           "description": "生成修改型封装包：记录归档后的管理过程", "basis": "DA/T 48-2009（修改型封装）"})
            eep = build_modified_eep(eep, data, events=events, reason="记录归档后的管理过程（复检、下载、撤销等）",
                                     unit_name=org.name, unit_code=org.tax_id, created=now, signer=signer,
                                     certificate=certificate)
        self.audit.record("archive.eep_downloaded", "archive_item", item.archival_code, sha256=sha256_hex(eep),
                          type="修改型" if modified else "原始型")
        return item, eep

    def _events_since_archiving(self, item: ArchiveItem) -> list[AuditEvent]:
        return list(self.db.execute(select(AuditEvent).where(
            AuditEvent.object_type == "archive_item", AuditEvent.object_id == item.archival_code,
            AuditEvent.org_id == self.org_id, AuditEvent.action != "archive.archived")
            .order_by(AuditEvent.id)).scalars())

    # -- archiving ---------------------------------------------------------
    def archive_period(self, fiscal_year: int, period: int, *,
                       explanations: Mapping[str, str] | None = None) -> ArchiveRun:
        """One item per voucher of the period not yet archived, red (reversing)
        vouchers included (docs/archival-codes.md). The period is refused while a
        voucher of it is still on its way (a claim queued for posting, a reversal
        requested) unless the archivist explains it (``explanations``: reference ->
        reason). Each package passes the four-property check before it is
        registered; one that fails, or whose check could not be performed and was
        not waived, is not archived (no number taken, nothing stored) and comes
        back with its codes. A red voucher is archived after the voucher it
        reverses, and names it."""
        org = self.db.get(Organisation, self.org_id)
        explained = self._settled_or_explained(fiscal_year, period, explanations or {})
        vouchers = self.db.execute(
            select(Voucher).where(Voucher.org_id == self.org_id, Voucher.fiscal_year == fiscal_year,
                                  Voucher.period == period)
            .options(selectinload(Voucher.entries), selectinload(Voucher.reverses),
                     selectinload(Voucher.claim).selectinload(Claim.lines).selectinload(ClaimInvoice.invoice),
                     selectinload(Voucher.claim).selectinload(Claim.signoffs))
            .order_by(Voucher.date, Voucher.voucher_word, Voucher.voucher_number, Voucher.id)
        ).scalars().all()
        vouchers = _blue_before_red(vouchers)
        done = {
            item.voucher_id: item.archival_code for item in self.db.execute(
                select(ArchiveItem).where(ArchiveItem.voucher_id.in_([v.id for v in vouchers]),
                                          ArchiveItem.withdrawn_at.is_(None))).scalars()
        }
        run = ArchiveRun(explained=explained)
        pending = [v for v in vouchers if v.id not in done]
        waivers = self.waivers_by_voucher([v.id for v in pending])
        if pending:
            adopted = self._resume(org, pending, waivers)
            run.archived.extend(adopted)
            done.update({i.voucher_id: i.archival_code for i in adopted})
        ahead = OriginalsAhead(self.store, [inv.storage_key for v in pending if v.id not in done
                                            for inv in self._originals(v)])
        self._read_original = ahead.get
        self._history = _RunHistory.load(self.db, self.org_id, [v for v in pending if v.id not in done],
                                         self._originals)
        try:
            self._archive_each(org, vouchers, done, waivers, run)
        finally:
            self._read_original = None
            self._history = None
            ahead.close()
        new = {i.voucher_id for i in run.archived}
        run.already = sorted(code for vid, code in done.items() if vid not in new)
        return run

    def _archive_each(self, org: Organisation, vouchers: list[Voucher], done: dict[int, str],
                      waivers: Mapping[int, Any], run: ArchiveRun) -> None:
        for voucher in vouchers:
            if voucher.id in done:
                continue
            if voucher.red_flag and not self._reversed_is_archived(voucher):
                run.failed.append(_reversed_not_archived(voucher))
                self.audit.record("archive.check_failed", "voucher", voucher.id, number=voucher.display_number,
                                  codes=["reversed_voucher_not_archived"])
                continue
            try:
                with self.db.begin_nested():      # a failed check gives its number back
                    item = self._archive_voucher(org, voucher, waivers.get(voucher.id, ()))
                    run.archived.append(item)
                    done[voucher.id] = item.archival_code
            except ArchivedMeanwhile as exc:
                done[voucher.id] = exc.archival_code
            except FourPropertyFailure as exc:
                run.failed.append(exc.as_dict())
                self.audit.record("archive.check_failed", "voucher", voucher.id, number=voucher.display_number,
                                  codes=exc.codes, not_performed=exc.blocking)

    # -- what keeps a period from being archived ------------------------------------
    def unsettled(self, fiscal_year: int, period: int) -> list[dict[str, Any]]:
        """Vouchers of the period that are neither posted nor refused yet: a claim
        queued for posting whose voucher will be dated in the period (the draft's
        date is the approval's business date), and a reversal requested for a date
        in the period whose red voucher the accounting system has not confirmed.
        Each is named by its external reference, the key an explanation uses."""
        out: list[dict[str, Any]] = []
        queued = self.db.execute(
            select(Claim).where(Claim.org_id == self.org_id, Claim.status == ClaimStatus.POSTING)
            .options(selectinload(Claim.signoffs)).order_by(Claim.number)).scalars()
        for claim in queued:
            approved = max((s.at for s in claim.signoffs if s.step == "审批"), default=None)
            date = business_date(approved) if approved is not None else None
            if date is not None and (date.year, date.month) != (fiscal_year, period):
                continue
            msg = outbox.latest(self.db, TOPIC_POST, key="claim_id", value=claim.id)
            ref = msg.dedupe_key if msg is not None else claim.number
            state = "stuck" if msg is not None and outbox.is_stuck(msg) else "queued"
            out.append({"kind": "posting_queued", "reference": ref, "claim_number": claim.number,
                        "state": state, "last_error": msg.last_error if msg is not None else None,
                        "message": f"报销单 {claim.number} 已交记账系统入账（{ref}，"
                                   f"{'停滞，结果未知' if state == 'stuck' else '处理中'}），凭证尚未回写"})
        reversals = self.db.execute(
            select(OutboxMessage).where(OutboxMessage.org_id == self.org_id, OutboxMessage.topic == TOPIC_REVERSE,
                                        OutboxMessage.status != OutboxStatus.DONE)
            .order_by(OutboxMessage.id)).scalars()
        for msg in reversals:
            if msg.status == OutboxStatus.FAILED and not outbox.is_stuck(msg):
                continue    # refused by the accounting system: no red voucher will come
            date = dt.date.fromisoformat(msg.payload["date"])
            if (date.year, date.month) != (fiscal_year, period):
                continue
            original = self.db.get(Voucher, msg.payload["voucher_id"])
            number = original.display_number if original is not None else "?"
            out.append({"kind": "reversal_queued", "reference": msg.dedupe_key, "voucher_number": number,
                        "state": "stuck" if outbox.is_stuck(msg) else "queued", "last_error": msg.last_error,
                        "message": f"凭证 {number} 的红字冲销（{msg.dedupe_key}，{date}）已提交记账系统，冲销凭证尚未回写"})
        return out

    def _settled_or_explained(self, fiscal_year: int, period: int,
                              explanations: Mapping[str, str]) -> list[dict[str, Any]]:
        """Refuse the period while a voucher of it is neither posted nor explained;
        record the explanations given (audit log) and return them."""
        open_items = self.unsettled(fiscal_year, period)
        blank = sorted(ref for ref, why in explanations.items() if not str(why or "").strip())
        if blank:
            raise Invalid(f"说明不能为空：{'、'.join(blank)}。", code="explanation_required",
                          detail={"references": blank})
        unexplained = [u for u in open_items if u["reference"] not in explanations]
        if unexplained:
            raise Conflict(
                f"{fiscal_year}年{period}月还有 {len(unexplained)} 张凭证既未入账也未说明，不能归档该期间："
                + "；".join(u["message"] for u in unexplained)
                + "。请等待记账系统回写后再归档，或在归档请求中逐项说明（explanations）。",
                code="archive_period_unsettled",
                detail={"fiscal_year": fiscal_year, "period": period, "unsettled": unexplained})
        explained = []
        for u in open_items:
            entry = {**u, "explanation": str(explanations[u["reference"]]).strip()}
            explained.append(entry)
            self.audit.record("archive.unsettled_explained", "period", f"{fiscal_year}-{period:02d}",
                              kind=u["kind"], reference=u["reference"], explanation=entry["explanation"])
        return explained

    def _reversed_is_archived(self, red: Voucher) -> bool:
        return self.db.execute(select(ArchiveItem.id).where(
            ArchiveItem.voucher_id == red.reverses_id, ArchiveItem.withdrawn_at.is_(None))).first() is not None

    # -- waivers (docs/archive-waivers.md) ------------------------------------------
    def waive(self, voucher_id: Any, codes: Iterable[str], reason: str, *,
              person_id: int | None = None) -> list[ArchiveCheckWaiver]:
        """Record an archivist's waiver of each check in ``codes`` for the voucher's
        item: its next archive run registers the item although those checks could
        not be performed. Refused for a code that is no DA/T 70 check here, for a
        voucher already archived, and for a check already waived (409: of two
        archivists waiving at once, one records it)."""
        voucher = scoped_get(self.db, Voucher, voucher_id, self.org_id)
        codes = list(dict.fromkeys(str(c).strip().upper() for c in codes))
        reason = (reason or "").strip()
        unknown = [c for c in codes if c not in CHECKS]
        if not codes or unknown:
            raise Invalid(f"没有可豁免的检测项：{'、'.join(unknown) or '（未给出）'}；可豁免的为本系统的 DA/T 70 "
                          f"检测项（{', '.join(sorted(CHECKS, key=_code_order))}）。", code="waiver_check_unknown",
                          detail={"unknown": unknown, "checks": sorted(CHECKS, key=_code_order)})
        if not reason:
            raise Invalid("请填写豁免理由。", code="waiver_reason_required")
        archived = self.db.execute(select(ArchiveItem.archival_code).where(
            ArchiveItem.voucher_id == voucher.id, ArchiveItem.withdrawn_at.is_(None))).scalar_one_or_none()
        if archived is not None:
            raise Conflict(f"凭证 {voucher.display_number} 已归档为 {archived}，豁免只对待归档的凭证有效。",
                           code="already_archived", detail={"archival_code": archived})
        existing = self.db.execute(select(ArchiveCheckWaiver).where(
            ArchiveCheckWaiver.voucher_id == voucher.id, ArchiveCheckWaiver.check_code.in_(codes))).scalars().all()
        if existing:
            raise _already_waived(voucher, existing)
        now = utcnow()
        rows = [ArchiveCheckWaiver(org_id=self.org_id, voucher_id=voucher.id, check_code=code, reason=reason,
                                   waived_by=self.actor, person_id=person_id, waived_at=now) for code in codes]
        try:
            with self.db.begin_nested():
                self.db.add_all(rows)
                self.db.flush()
        except IntegrityError:
            # another archivist's waiver committed between our read and our insert
            self.db.expire_all()
            existing = self.db.execute(select(ArchiveCheckWaiver).where(
                ArchiveCheckWaiver.voucher_id == voucher.id, ArchiveCheckWaiver.check_code.in_(codes))).scalars().all()
            raise _already_waived(voucher, existing) from None
        for row in rows:
            self.audit.record("archive.check_waived", "voucher", voucher.id, number=voucher.display_number,
                              check=row.check_code, check_name=CHECKS[row.check_code].name, reason=reason,
                              waived_by=self.actor, waived_at=now.isoformat())
        return rows

    def list_waivers(self, *, voucher_id: int | None = None, limit: int = 50,
                     offset: int = 0) -> tuple[list[ArchiveCheckWaiver], int]:
        stmt = select(ArchiveCheckWaiver).where(ArchiveCheckWaiver.org_id == self.org_id)
        if voucher_id is not None:
            stmt = stmt.where(ArchiveCheckWaiver.voucher_id == voucher_id)
        total = self.db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        rows = self.db.execute(stmt.order_by(ArchiveCheckWaiver.id).limit(limit).offset(offset)).scalars()
        return list(rows), total

    def waivers_by_voucher(self, voucher_ids: Iterable[int]) -> dict[int, list[Waiver]]:
        ids = list(voucher_ids)
        out: dict[int, list[Waiver]] = {}
        if not ids:
            return out
        for row in self.db.execute(select(ArchiveCheckWaiver).where(
                ArchiveCheckWaiver.org_id == self.org_id, ArchiveCheckWaiver.voucher_id.in_(ids))
                .order_by(ArchiveCheckWaiver.id)).scalars():
            out.setdefault(row.voucher_id, []).append(waiver_of(row))
        return out

    # -- resuming an interrupted run ------------------------------------------------
    def _resume(self, org: Organisation, pending: list[Voucher],
                waivers: Mapping[int, list[Waiver]]) -> list[ArchiveItem]:
        """Adopt the packages an interrupted run stored without registering them.

        A run writes each package to the write-once store before its transaction
        commits; a run killed in between leaves packages whose 档号 the database
        gave back. Numbers are taken in order, so those packages sit on the next
        numbers of the volume: each is read, checked in full and matched to the
        pending voucher it describes (its voucher record byte for byte, its
        originals by digest), then registered as it is. 档号 stay unique and
        gap-free, and nothing stored is ever overwritten. A stored package that
        matches no pending voucher stops the run for a person to look at."""
        years = self.retention_years
        by_class: dict[tuple[str, int], list[Voucher]] = {}
        for v in pending:
            by_class.setdefault((voucher_class_code(v.fiscal_year, years, self.class_scheme), v.period), []).append(v)
        adopted: list[ArchiveItem] = []
        for (class_code, volume), candidates in by_class.items():
            while candidates:
                item = self._adopt_next(org, class_code, volume, candidates, waivers)
                if item is None:
                    break
                adopted.append(item)
                candidates = [v for v in candidates if v.id != item.voucher_id]
        return adopted

    def _adopt_next(self, org: Organisation, class_code: str, volume: int, candidates: list[Voucher],
                    waivers: Mapping[int, list[Waiver]]) -> ArchiveItem | None:
        class _Free(Exception):
            pass

        try:
            with self.db.begin_nested():
                item_no = next_value(self.db, self.org_id, f"archive:{class_code}:{volume:04d}")
                code = ArchivalCode(org.fonds_code, class_code, volume, item_no)
                key = self._package_key(org, candidates[0].fiscal_year, code)
                if not self.store.exists(key):
                    raise _Free
                data = self.store.get(key)
                voucher, manifest, report = self._verify_orphan(data, code, key, candidates, waivers)
                item = self._register(org, voucher, code, item_no, key, data, manifest, report, adopted=True)
                self.db.flush()
                return item
        except _Free:
            return None

    def _verify_orphan(self, data: bytes, code: ArchivalCode, key: str, candidates: list[Voucher],
                       waivers: Mapping[int, list[Waiver]]) -> tuple[Voucher, list[dict], Any]:
        from invoice_archive.archive.checks import package_contents

        def conflict(why: str) -> Conflict:
            return Conflict(
                f"档号 {code} 的归档包已在归档存储中，但{why}，不能登记也不能覆盖。请档案管理员核查"
                f"（invoice-archive audit-fixity 会列出存储中未登记的对象）。",
                code="archive_store_conflict", detail={"archival_code": str(code), "reason": why})

        contents = package_contents(data)
        if contents.problem:
            raise conflict(f"无法读取（{contents.problem}）")
        if contents.archival_code != str(code):
            raise conflict(f"其元数据中的档号为 {contents.archival_code}")
        by_role: dict[str, list[bytes]] = {}
        for f in contents.files:
            by_role.setdefault(f["role"], []).append(contents.payload.get(f["path"], b""))
        stored_voucher = (by_role.get("voucher") or [b""])[0]
        owner = next((v for v in candidates
                      if voucher_xml(self.voucher_dict(v)) == stored_voucher), None)
        if owner is None:
            raise conflict("其中的记账凭证与本期任何待归档凭证都不一致")
        originals = [sha256_hex(b) for b in by_role.get("original", [])]
        if originals != [inv.sha256 for inv in self._originals(owner)]:
            raise conflict(f"其中的原始凭证与凭证 {owner.display_number} 的发票原件不一致")
        metadata_path = f"data/{code}-metadata.xml"
        meta = contents.payload.get(metadata_path)
        if meta is None:
            raise conflict("缺少元数据文件")
        manifest = [{**f, "size": int(f["size"])} for f in contents.files] + [
            ManifestEntry(path=metadata_path, role="metadata", media_type="application/xml", size=len(meta),
                          sha256=sha256_hex(meta), sm3=sm3_hex(meta)).as_dict()]
        report = check_package(data, self._expected(code, manifest, data, owner, key), scanner=self.scanner,
                               waivers=waivers.get(owner.id, ()))
        if not report.passed:
            failing = [f"{c.code} {c.detail}" for c in report.failures]
            raise conflict("未通过四性检测：" + "；".join(failing))
        if not report.registrable:
            # the package is sound as far as it was checked; the rest awaits a scanner or a waiver
            blocked = FourPropertyFailure(owner, report).as_dict()
            raise Conflict(f"档号 {code} 的归档包已在归档存储中，待登记：" + blocked["message"],
                           code="four_property_check_not_performed", detail={"archival_code": str(code), **blocked})
        return owner, manifest, report

    def _package_key(self, org: Organisation, fiscal_year: int, code: ArchivalCode) -> str:
        return f"packages/{org.fonds_code}/{fiscal_year}/{code}.zip"

    def _expected(self, code: ArchivalCode, manifest: list[dict], bag: bytes, voucher: Voucher,
                  key: str, registered: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What the checks hold a package of ``voucher`` against. ``registered`` (from
        :meth:`_registered`) when the same item's package is checked more than once."""
        return {
            "archival_code": str(code), "files": manifest, "file_count": len(manifest),
            "byte_count": sum(int(m["size"]) for m in manifest), "package_sha256": sha256_hex(bag),
            "package_sm3": sm3_hex(bag), "item_count": 1, "package_key": key,
            **(registered if registered is not None else self._registered(code, voucher)),
        }

    def _registered(self, code: ArchivalCode, voucher: Voucher) -> dict[str, Any]:
        """What the archive already holds that an item of ``voucher`` under ``code`` is
        held against: GD-1-8 asks whether this code, and this voucher number, are
        already taken (ask the index, not every code), GD-2-6 the volume's numbers."""
        known = set(self.db.execute(select(ArchiveItem.archival_code).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.archival_code == str(code))).scalars())
        numbers = volume_item_numbers(self.db, self.org_id, code.class_code, code.volume)
        return {"known_codes": known, "sequence": [*numbers, code.item], **self._voucher_expectations(voucher)}

    def _voucher_expectations(self, voucher: Voucher, *, exclude_item: int | None = None) -> dict[str, Any]:
        """What an item of ``voucher`` is held against besides its package: its voucher
        number and the same number among the year's archived vouchers (GD-1-8), and
        the run's scope (GD-2-9)."""
        # from the voucher's unique number (uq_vouchers_org_number) to its current item
        # (uq_archive_items_voucher_current): two index look-ups, however large the archive
        current = select(ArchiveItem.id).where(ArchiveItem.voucher_id == Voucher.id,
                                               ArchiveItem.withdrawn_at.is_(None))
        if exclude_item is not None:
            current = current.where(ArchiveItem.id != exclude_item)
        taken = select(Voucher.voucher_word, Voucher.voucher_number).where(
            Voucher.org_id == self.org_id, Voucher.fiscal_year == voucher.fiscal_year,
            Voucher.voucher_word == voucher.voucher_word, Voucher.voucher_number == voucher.voucher_number,
            current.exists())
        return {"document_number": voucher.display_number,
                "known_document_numbers": {f"{w}-{n}" for w, n in self.db.execute(taken).all()},
                "scope": {"fiscal_year": voucher.fiscal_year, "period": voucher.period}}

    def _archive_voucher(self, org: Organisation, voucher: Voucher, waivers: Iterable[Waiver] = ()) -> ArchiveItem:
        years = self.retention_years
        class_code = voucher_class_code(voucher.fiscal_year, years, self.class_scheme)
        volume = voucher.period
        item_no = next_value(self.db, self.org_id, f"archive:{class_code}:{volume:04d}")
        # the counter's lock serialises the volume's archivers: a concurrent run may
        # have archived this voucher while this one waited
        taken = self.db.execute(select(ArchiveItem.archival_code).where(
            ArchiveItem.voucher_id == voucher.id, ArchiveItem.withdrawn_at.is_(None))).scalar_one_or_none()
        if taken is not None:
            raise ArchivedMeanwhile(taken)
        code = ArchivalCode(org.fonds_code, class_code, volume, item_no)
        key = self._package_key(org, voucher.fiscal_year, code)
        now = utcnow()
        claim: Claim = voucher.claim
        invoices = self._originals(voucher)

        files = self._package_files(str(code), voucher, claim, invoices, org)
        metadata = self._metadata(org, code, voucher, claim, invoices, years, key)
        description = (f"红字冲销凭证 {voucher.display_number}（冲销 {voucher.reverses.display_number}）"
                       if voucher.red_flag else f"记账凭证 {voucher.display_number} 及其原始凭证")

        digests: dict[PackageFile, ManifestEntry] = {}    # the payload is hashed once, not per seal

        def sealed(meta: dict[str, Any]) -> tuple[bytes, list[ManifestEntry]]:
            # the metadata describes every payload file before it, so it is built last
            described = [manifest_entry(f, digests).as_dict() for f in files]
            return build_bag(str(code), [*files, PackageFile(f"{code}-metadata.xml", item_metadata_xml(meta, described),
                                                             "metadata", "application/xml")], {
                "Source-Organization": org.name,
                "External-Identifier": str(code),
                "External-Description": description,
                "Bag-Group-Identifier": class_code,
            }, now, memo=digests)

        # the four-property check of the package as assembled; its result goes into the
        # item's metadata (DA/T 94 7.5, E.1.4c), and the package that carries it is checked
        # again before it is registered (docs/metadata.md)
        registered = self._registered(code, voucher)   # nothing is registered between the two checks
        memo: dict[Any, Any] = {}      # the payload's digests and parses, from the first check to the second
        for final in (False, True):
            bag, manifest = sealed(metadata)
            manifest_dicts = [m.as_dict() for m in manifest]
            report = check_package(bag, self._expected(code, manifest_dicts, bag, voucher, key, registered),
                                   scanner=self.scanner, waivers=waivers, memo=memo)
            if not report.registrable:
                raise FourPropertyFailure(voucher, report)
            if not final:
                metadata["four_property"] = four_property_summary(report, utcnow())
        try:
            self.store.put(key, bag)
        except OSError as exc:
            raise StoreUnavailable(f"归档存储不可用：{exc}", code="store_unavailable", status=503) from exc
        return self._register(org, voucher, code, item_no, key, bag, manifest_dicts, report, now=now)

    def _register(self, org: Organisation, voucher: Voucher, code: ArchivalCode, item_no: int, key: str,
                  bag: bytes, manifest: list[dict], report: Any, *, now: dt.datetime | None = None,
                  adopted: bool = False) -> ArchiveItem:
        years = self.retention_years
        sha = sha256_hex(bag)
        item = ArchiveItem(
            org_id=self.org_id, voucher_id=voucher.id, archival_code=str(code), fonds_code=org.fonds_code,
            class_code=code.class_code, volume_no=code.volume, item_no=item_no, fiscal_year=voucher.fiscal_year,
            period=voucher.period, retention=retention_code(years),
            retention_until=retention_until(voucher.fiscal_year, years), package_key=key,
            package_sha256=sha, package_sm3=sm3_hex(bag), package_size=len(bag),
            manifest=manifest, archived_at=now or utcnow(), archived_by=self.actor,
            checks=report.to_dict(),
        )
        try:
            with self.db.begin_nested():
                self.db.add(item)
        except IntegrityError:
            raise Conflict(f"凭证 {voucher.voucher_word}-{voucher.voucher_number} 正在或已经归档，不能重复归档。",
                           code="already_archived") from None
        if not voucher.red_flag:
            # the claim and its invoices are archived with their voucher, unless it was
            # reversed meanwhile: then they stay reversed (the red voucher's item says so)
            claim = voucher.claim
            for line in claim.lines:
                if line.invoice.status == InvoiceStatus.POSTED:
                    line.invoice.status = InvoiceStatus.ARCHIVED
            if claim.status == ClaimStatus.POSTED:
                claim.status = ClaimStatus.ARCHIVED
        summary = report.to_dict()
        self.audit.record("archive.archived", "archive_item", str(code), voucher_id=voucher.id,
                          package_sha256=sha, files=len(manifest), adopted_from_interrupted_run=adopted,
                          red_flag=voucher.red_flag, reverses_voucher_id=voucher.reverses_id,
                          checks_not_performed=summary["not_performed"], waivers=summary["waivers"])
        return item

    # -- four-property checks on demand, and the archived mark -------------------
    def check_item(self, item: ArchiveItem) -> dict[str, Any]:
        """Re-run the four-property check on the stored package (DA/T 92 asks for a
        yearly re-check). A destroyed item has no package to check (410)."""
        ensure_not_destroyed(self.db, item)
        try:
            data = self.store.get(item.package_key)
        except KeyError:
            data = b""
        # GD-1-8: is this code another item's too? Ask the index, not every code
        others = set(self.db.execute(select(ArchiveItem.archival_code).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.archival_code == item.archival_code,
            ArchiveItem.id != item.id)).scalars())
        numbers = volume_item_numbers(self.db, self.org_id, item.class_code, item.volume_no)
        if item.voucher_id is not None:
            own = self._voucher_expectations(item.voucher, exclude_item=item.id)
            waivers = self.waivers_by_voucher([item.voucher_id]).get(item.voucher_id, ())
        else:   # a ledger, report or list (docs/records.md): its 文号 among the current items of its key
            taken = set(self.db.execute(select(ArchiveItem.document_number).where(
                ArchiveItem.org_id == self.org_id, ArchiveItem.record_key == item.record_key,
                ArchiveItem.withdrawn_at.is_(None), ArchiveItem.id != item.id)).scalars())
            own = {"document_number": item.document_number, "known_document_numbers": taken,
                   "scope": {"fiscal_year": item.fiscal_year, "period": item.period}}
            # a waiver recorded at archiving stays in the item's report: the re-check carries it
            waivers = [Waiver(**w) for w in (item.checks or {}).get("waivers", [])]
        expected = expected_from_item(item, known_codes=others, sequence=numbers, item_count=1,
                                      package_key=item.package_key, **own)
        report = check_package(data, expected, scanner=self.scanner, waivers=waivers).to_dict()
        self.audit.record("archive.checked", "archive_item", item.archival_code, passed=report["passed"],
                          registrable=report["registrable"],
                          failures=[c["code"] for c in report["checks"] if c["result"] == "fail"],
                          not_performed=report["blocking"])
        return report

    def check_year(self, fiscal_year: int) -> dict[str, Any]:
        from invoice_archive.models import ArchiveTombstone

        items = self.db.execute(select(ArchiveItem).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.fiscal_year == fiscal_year,
            ArchiveItem.withdrawn_at.is_(None), ~ArchiveItem.id.in_(select(ArchiveTombstone.item_id)))
            .order_by(ArchiveItem.archival_code)).scalars().all()
        failed = []
        for item in items:
            report = self.check_item(item)
            if not report["registrable"]:
                failed.append({"archival_code": item.archival_code, "item_id": item.id,
                               "codes": [c["code"] for c in report["checks"] if c["result"] == "fail"],
                               "not_performed": report["blocking"]})
        return {"fiscal_year": fiscal_year, "checked": len(items), "passed": len(items) - len(failed),
                "failed": failed}

    # -- the archived mark --------------------------------------------------------------------
    def withdraw(self, item_id: int, reason: str) -> ArchiveItem:
        """Remove the archived mark (an explicit, logged archivist action) so that the
        voucher can be archived again; the item and its package stay as they were."""
        item = self.get(item_id)
        ensure_not_destroyed(self.db, item)
        if item.withdrawn_at is not None:
            raise Conflict(f"档案 {item.archival_code} 的归档标记已于 {item.withdrawn_at:%Y-%m-%d} 撤销。",
                           code="already_withdrawn")
        item.withdrawn_at = utcnow()
        item.withdrawn_by = self.actor
        item.withdrawal_reason = reason
        voucher = item.voucher
        if voucher is None:     # a ledger, report or other record: archived again by the next records run
            self.audit.record("archive.withdrawn", "archive_item", item.archival_code, reason=reason)
            return item
        if voucher.claim.status == ClaimStatus.ARCHIVED:
            voucher.claim.status = ClaimStatus.POSTED
        for line in voucher.claim.lines:
            if line.invoice.status == InvoiceStatus.ARCHIVED:
                line.invoice.status = InvoiceStatus.POSTED
        self.audit.record("archive.withdrawn", "archive_item", item.archival_code, reason=reason)
        return item

    @staticmethod
    def _originals(voucher: Voucher) -> list[Invoice]:
        """The original vouchers filed with a voucher: the claim's invoices; none for a
        red voucher (they are in the item of the voucher it reverses)."""
        return [] if voucher.red_flag else [line.invoice for line in voucher.claim.lines]

    def _package_files(self, code: str, voucher: Voucher, claim: Claim, invoices: list[Invoice],
                       org: Organisation) -> list[PackageFile]:
        files = [
            PackageFile(f"{code}-01-记账凭证.xml", voucher_xml(self.voucher_dict(voucher)), "voucher", "application/xml"),
            PackageFile(f"{code}-02-报销单.xml", claim_xml(self.claim_dict(claim)), "claim", "application/xml"),
        ]
        for n, inv in enumerate(invoices, start=1):
            # present, and still its intake SHA-256
            original = original_bytes(self.store, inv, read=self._read_original)
            files.append(PackageFile(f"{code}-03-原始凭证-{n:02d}.{inv.source_format}", original, "original",
                                     EXT_MEDIA[inv.source_format]))
            report = json.dumps(inv.verification, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
            files.append(PackageFile(f"{code}-04-验签报告-{n:02d}.json", report, "verification", "application/json"))
        for n, inv in enumerate(invoices, start=1):
            # the receiver's 入账信息结构化数据文件 of each original (docs/formats.md)
            files.append(PackageFile(f"{code}-05-入账信息-{n:02d}.xml", self._posting_info(inv, voucher, org),
                                     "posting_info", "application/xml"))
        return files

    def _posting_info(self, inv: Invoice, voucher: Voucher, org: Organisation) -> bytes:
        return posting_info_xml(
            {"kind": inv.kind, "code": inv.code, "number": inv.number, "issue_date": _s(inv.issue_date),
             "total": _s(inv.total), "seller_name": inv.seller_name, "seller_tax_id": inv.seller_tax_id,
             "buyer_name": inv.buyer_name, "buyer_tax_id": inv.buyer_tax_id, "checked": inv.tax_status == "normal"},
            {"name": org.name, "credit_code": org.tax_id},
            {"number": voucher.display_number, "date": voucher.date.isoformat(), "fiscal_year": voucher.fiscal_year,
             "period": voucher.period, "summary": voucher.claim.title,
             "entries": [{"direction": "借" if e.debit else "贷", "account_code": e.account_code,
                          "account_name": e.account_name, "amount": str(e.debit or e.credit)}
                         for e in voucher.entries]})

    def _events(self, voucher: Voucher, claim: Claim, invoices: list[Invoice]) -> list[dict[str, Any]]:
        """The item's process (业务实体, DA/T 70 GD-2-5), in time order: the claim's
        sign-offs and the voucher's posting (or, for a red voucher, the reversal),
        taken from the records themselves, then what the audit log says of the
        claim, the voucher and the invoices."""
        derived: list[dict[str, Any]] = [
            {"action": SIGNOFF_ACTIONS.get(s.step, "claim.signed"), "at": s.at.isoformat(), "actor": s.actor,
             "description": f"{s.step}" + (f"：{s.comment}" if s.comment else "")} for s in claim.signoffs]
        if voucher.red_flag:
            derived.append({"action": "voucher.reversed", "at": voucher.reported_at.isoformat(),
                            "actor": voucher.reported_by,
                            "description": f"红字冲销 {voucher.reverses.display_number}：{voucher.reason or ''}"})
        else:
            derived.append({"action": "voucher.posted", "at": voucher.reported_at.isoformat(),
                            "actor": voucher.reported_by, "description": f"入账 {voucher.display_number}"})
        objects = _history_objects(voucher, claim, invoices)
        if self._history is not None:   # read for the whole run at its start
            logged = sorted((e for key in objects for e in self._history.events.get(key, ())), key=lambda e: e.id)
        else:
            logged = sorted(logged_events(self.db, self.org_id, objects), key=lambda e: e.id)
        events = derived + [{"action": e.action, "at": e.at.isoformat(), "actor": e.actor} for e in logged
                            if not (e.object_type == "voucher" and e.object_id != str(voucher.id)
                                    and e.action != "voucher.reversal_requested")]
        return sorted(({**e, "actor": _line(e["actor"])} for e in events), key=lambda e: e["at"])

    def _metadata(self, org: Organisation, code: ArchivalCode, voucher: Voucher, claim: Claim,
                  invoices: list[Invoice], years: int | None, key: str) -> dict[str, Any]:
        relations = [{"type": "原始凭证", "target": inv.business_key} for inv in invoices] + [
            {"type": "报销单", "target": claim.number}]
        title = f"{claim.title}（{voucher.display_number}）"
        if voucher.red_flag:
            blue = voucher.reverses
            blue_code = self.db.execute(select(ArchiveItem.archival_code).where(
                ArchiveItem.voucher_id == blue.id, ArchiveItem.withdrawn_at.is_(None))).scalar_one_or_none()
            relations.insert(0, {"type": "冲销", "target": blue.display_number, "archival_code": blue_code})
            title = f"{claim.title}（红字冲销 {voucher.display_number}，冲销 {blue.display_number}）"
        return {
            "source_system": _line(voucher.source_system), "org_name": _line(org.name), "archival_code": str(code),
            "fonds": code.fonds, "fiscal_year": voucher.fiscal_year, "retention": retention_code(years),
            "class_code": code.class_code, "volume": f"{code.volume:04d}", "item": f"{code.item:04d}",
            "title": _line(title), "date": voucher.date.isoformat(), "period": voucher.period, "currency": "CNY",
            "prepared_by": _line(voucher.prepared_by), "reviewed_by": _line(voucher.reviewed_by),
            "posted_by": _line(voucher.posted_by),
            "retention_until": _s(retention_until(voucher.fiscal_year, years)),
            "prepared_on": voucher.date.isoformat(),
            # the accounting system reports a voucher once it is audited or posted
            # (accounting.posted_when): the day it did so stands for the audit date
            "reviewed_on": business_date(voucher.reported_at).isoformat() if voucher.reviewed_by else "",
            "organisation_or_subject": CATEGORIES["voucher"].group,
            "signatures": [signature_metadata(inv) for inv in invoices],
            "tax_checks": [self._tax_check_metadata(inv) for inv in invoices],
            "events": [{**e, "status": "历史行为", "basis": event_basis(e["action"])}
                       for e in self._events(voucher, claim, invoices)],
            "relations": relations,
            "category": {"key": "voucher", "name": CATEGORIES["voucher"].name},
            "storage_location": key,
            "access": archive_access(),
        }

    def _tax_check_metadata(self, inv: Invoice) -> dict[str, Any]:
        """The tax platform's latest 查验 answer for an original, as the metadata records it."""
        from invoice_archive.services.compliance import latest_tax_check

        label = inv.number or inv.business_key
        if self._history is not None and inv.id in self._history.tax_checks:
            row = self._history.tax_checks[inv.id]
        else:
            row = latest_tax_check(self.db, inv.id)
        if row is None:
            return {"object": label, "status": "not_checked", "checked_at": "", "source": "", "discrepancies": ""}
        return {"object": label, "status": inv.tax_status or row.status, "checked_at": row.checked_at.isoformat(),
                "source": row.source, "discrepancies": "；".join(row.discrepancies or [])}

    @staticmethod
    def voucher_dict(v: Voucher) -> dict[str, Any]:
        out = {
            "fiscal_year": v.fiscal_year, "period": v.period, "voucher_word": v.voucher_word,
            "voucher_number": v.voucher_number, "date": v.date.isoformat(), "prepared_by": v.prepared_by,
            "reviewed_by": v.reviewed_by, "posted_by": v.posted_by, "debit_total": str(v.debit_total),
            "credit_total": str(v.credit_total), "attachment_count": v.attachment_count,
            "red_flag": "1" if v.red_flag else "0",
            "external_ref": v.external_ref, "source_system": v.source_system, "claim_number": v.claim.number,
            "entries": [{"line_no": e.line_no, "summary": e.summary, "account_code": e.account_code,
                         "account_name": e.account_name, "debit": str(e.debit), "credit": str(e.credit)}
                        for e in v.entries],
        }
        if v.red_flag and v.reverses is not None:
            out.update(reverses_number=v.reverses.display_number, reverses_fiscal_year=v.reverses.fiscal_year,
                       reverses_external_ref=v.reverses.external_ref, reason=v.reason)
        return out

    @staticmethod
    def claim_dict(c: Claim) -> dict[str, Any]:
        return {
            "number": c.number, "title": c.title, "expense_category": c.expense_category,
            "claimant": c.claimant, "total": str(c.total), "created_at": c.created_at.isoformat(),
            "status": c.status,
            "invoices": [{"business_key": i.business_key, "kind": i.kind, "code": i.code, "number": i.number,
                          "issue_date": _s(i.issue_date), "seller_name": i.seller_name,
                          "seller_tax_id": i.seller_tax_id, "total": _s(i.total), "verdict": i.verdict,
                          "sha256": i.sha256, "sm3": i.sm3} for i in (line.invoice for line in c.lines)],
            "signoffs": [{"step": s.step, "actor": s.actor, "role": s.role, "at": s.at.isoformat(),
                          "comment": s.comment} for s in c.signoffs],
        }


def _history_objects(voucher: Voucher, claim: Claim, invoices: Iterable[Invoice]) -> list[tuple[str, str]]:
    """The audit log's (object type, object id) of what an item's process metadata tells
    of: the claim, the voucher (and, for a red voucher, the voucher it reverses) and
    the invoices."""
    return ([("claim", claim.number), ("voucher", str(voucher.id))]
            + ([("voucher", str(voucher.reverses_id))] if voucher.red_flag else [])
            + [("invoice", str(i.id)) for i in invoices])


def logged_events(db: Session, org_id: int, objects: Iterable[tuple[str, str]]) -> list[AuditEvent]:
    """The organisation's audit events of these objects, but those the records
    themselves give (DERIVED_ACTIONS): one look-up per kind of object and at most
    1,000 ids, on ix_audit_events_object (object ids such as claim numbers repeat
    across organisations: the organisation is checked after)."""
    by_kind: dict[str, list[str]] = {}
    for kind, object_id in objects:
        by_kind.setdefault(kind, []).append(object_id)
    out = []
    for kind, ids in by_kind.items():
        for start in range(0, len(ids), 1000):
            out += [e for e in db.execute(select(AuditEvent).where(
                AuditEvent.object_type == kind, AuditEvent.object_id.in_(ids[start:start + 1000]),
                AuditEvent.action.not_in(DERIVED_ACTIONS))).scalars() if e.org_id == org_id]
    return out


@dataclass
class _RunHistory:
    """What the items of one archive run tell of their process, read once when the
    run starts instead of three look-ups per voucher: the audit events of their
    claims, vouchers and invoices, and each invoice's latest 查验. The metadata of
    a run's items tells their process as it stood when the run began."""

    events: dict[tuple[str, str], list[AuditEvent]]
    tax_checks: dict[int, TaxCheck | None]

    @classmethod
    def load(cls, db: Session, org_id: int, vouchers: list[Voucher],
             originals: Callable[[Voucher], list[Invoice]]) -> _RunHistory:
        objects = [key for v in vouchers for key in _history_objects(v, v.claim, originals(v))]
        events: dict[tuple[str, str], list[AuditEvent]] = {}
        for e in logged_events(db, org_id, dict.fromkeys(objects)):
            events.setdefault((e.object_type, e.object_id), []).append(e)
        invoice_ids = sorted({int(object_id) for kind, object_id in objects if kind == "invoice"})
        tax_checks: dict[int, TaxCheck | None] = dict.fromkeys(invoice_ids)
        for start in range(0, len(invoice_ids), 1000):
            latest = (select(TaxCheck).where(TaxCheck.invoice_id.in_(invoice_ids[start:start + 1000]))
                      .order_by(TaxCheck.invoice_id, TaxCheck.checked_at.desc(), TaxCheck.id.desc()))
            for row in db.execute(latest).scalars():
                if tax_checks[row.invoice_id] is None:
                    tax_checks[row.invoice_id] = row
        return cls(events, tax_checks)
