"""Holds, appraisal (鉴定) and destruction (销毁) of archive items (docs/disposition.md).

会计档案管理办法 第十六条 to 第十九条, as the service carries them out:

* **holds**: an item tied to an unsettled matter (未结清的债权债务, 其他未了事项) is held
  by whoever knows of the matter; while held it is never destroyed, and the lists name
  it apart (第十九条). A hold is released when the matter is settled.
* **appraisal**: the items whose retention has ended are appraised together by the
  archives unit with the accounting unit (and others: 第十七条); each is concluded
  销毁, 继续保管 (with a new end) or, when held, 暂缓销毁. The 鉴定意见书 is drawn up
  and archived (永久).
* **destruction**: a 销毁清册 of items the appraisal concluded may be destroyed is
  proposed by an archivist, approved by two different people (neither the proposer)
  in the capacities 第十八条 names, or refused (the list is then cancelled and its
  items free); then executed with a 监销 record of the archives, accounting and IT
  units' supervisors who counted the items. Execution writes a tombstone per item
  first (its 档号, digests, manifest and metadata, kept for good), commits, then
  removes the content from the write-once store through its one deliberate deletion
  path, then archives the final 销毁清册 (永久). Interrupted at any point, even by
  kill -9, running the execution again resumes where it stopped.

Every state change locks the row it changes before reading its state, so of two
requests that arrive together one wins and the other gets a 409 naming what it found;
the unique indexes (one active hold, one live destruction list per item, one tombstone
per item, one approval per person per list) hold even if a lock were forgotten.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from invoice_archive.archive.checks import Waiver, package_contents
from invoice_archive.archive.lists import appraisal_opinion_xml, custody_list_xml, destruction_list_xml, item_row
from invoice_archive.archive.retention import CATEGORIES
from invoice_archive.archive.store import DestructionRefused
from invoice_archive.db import utcnow
from invoice_archive.errors import Conflict, Forbidden, Invalid, NotFound, StoreUnavailable
from invoice_archive.models import (
    Appraisal, AppraisalEntry, ArchiveHold, ArchiveItem, ArchiveTombstone, ClaimInvoice, DestroyedObject,
    Destruction, DestructionApproval, DestructionEntry, DestructionStatus, Invoice, Organisation, Transfer,
    TransferEntry, TransferStatus, Voucher,
)
from invoice_archive.services.audit import AuditLog
from invoice_archive.services.filing import (
    CHINA, Filing, RecordCheckFailed, RecordDraft, china_today, ensure_not_destroyed, file_once, item_title,
)
from invoice_archive.services.scoping import package_bytes, scoped_get, scoped_named
from invoice_archive.services.sequences import next_value

MATTERS = {"unsettled_debt": "未结清的债权债务", "pending_matter": "其他未了事项"}
#: who signs a 销毁清册 (第十八条); two different people must approve
APPROVER_CAPACITIES = ("单位负责人", "档案管理机构负责人", "会计管理机构负责人", "档案管理机构经办人", "会计管理机构经办人")
REQUIRED_APPROVALS = 2
#: who supervises the destruction of electronic records (第十八条): one of each unit
SUPERVISING_UNITS = ("档案管理机构", "会计管理机构", "信息系统管理机构")
#: who must take part in an appraisal (第十七条): the archives unit leads, with the accounting unit
APPRAISING_UNITS = ("档案管理机构", "会计管理机构")
CONCLUSIONS = {"destroy": "销毁", "retain": "继续保管", "held": "暂缓销毁"}


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())


def _china(at: dt.datetime) -> str:
    return at.astimezone(CHINA).isoformat(timespec="seconds")


# -- the state of items (read by every step and by the item's rendering) ---------------------------
def active_hold(db: Session, item_id: int) -> ArchiveHold | None:
    return db.execute(select(ArchiveHold).where(ArchiveHold.item_id == item_id,
                                                ArchiveHold.released_at.is_(None))).scalar_one_or_none()


def tombstone(db: Session, item_id: int) -> ArchiveTombstone | None:
    return db.get(ArchiveTombstone, item_id)


def live_destruction(db: Session, item_id: int) -> Destruction | None:
    return db.execute(select(Destruction).join(DestructionEntry).where(
        DestructionEntry.item_id == item_id, DestructionEntry.released_at.is_(None))).scalar_one_or_none()


def item_states(db: Session, items: Iterable[ArchiveItem]) -> dict[int, dict[str, Any]]:
    """Per item: its active hold, its tombstone (destroyed), the destruction list and the
    transfer holding it (four look-ups, whatever the number of items)."""
    ids = [i.id for i in items]
    out: dict[int, dict[str, Any]] = {i: {"hold": None, "destroyed": None, "destruction": None, "transfer": None}
                                      for i in ids}
    if not ids:
        return out
    for hold in db.execute(select(ArchiveHold).where(ArchiveHold.item_id.in_(ids),
                                                     ArchiveHold.released_at.is_(None))).scalars():
        out[hold.item_id]["hold"] = hold_json(hold)
    for tomb, number in db.execute(select(ArchiveTombstone, Destruction.number).join(
            Destruction, Destruction.id == ArchiveTombstone.destruction_id).where(
            ArchiveTombstone.item_id.in_(ids))).all():
        out[tomb.item_id]["destroyed"] = {"at": tomb.destroyed_at, "by": tomb.destroyed_by, "destruction": number}
    for item_id, number, status in db.execute(select(DestructionEntry.item_id, Destruction.number,
                                                     Destruction.status).join(Destruction).where(
            DestructionEntry.item_id.in_(ids), DestructionEntry.released_at.is_(None))).all():
        out[item_id]["destruction"] = {"number": number, "status": status}
    for item_id, number, status in db.execute(select(TransferEntry.item_id, Transfer.number, Transfer.status)
                                              .join(Transfer).where(TransferEntry.item_id.in_(ids),
                                                                    TransferEntry.released_at.is_(None))).all():
        out[item_id]["transfer"] = {"number": number, "status": status,
                                    "transferred": status == TransferStatus.COMPLETED}
    return out


def hold_json(h: ArchiveHold) -> dict[str, Any]:
    return {"id": h.id, "item_id": h.item_id, "matter": h.matter, "matter_name": MATTERS[h.matter],
            "reason": h.reason, "placed_by": h.placed_by, "placed_at": h.placed_at, "released_at": h.released_at,
            "released_by": h.released_by, "release_reason": h.release_reason}


def _effective_end(db: Session, items: list[ArchiveItem]) -> dict[int, dt.date | None]:
    """The day each item's retention ends: its 保管期限截止, or the later end an appraisal
    set when it concluded 继续保管 (重新划定保管期限)."""
    ends = {i.id: i.retention_until for i in items}
    if not items:
        return ends
    for item_id, until in db.execute(select(AppraisalEntry.item_id, func.max(AppraisalEntry.retain_until)).where(
            AppraisalEntry.item_id.in_(list(ends)), AppraisalEntry.conclusion == "retain")
            .group_by(AppraisalEntry.item_id)).all():
        if until is not None and ends[item_id] is not None and until > ends[item_id]:
            ends[item_id] = until
    return ends


def _row(item: ArchiveItem, on: dt.date, **extra: Any) -> dict[str, Any]:
    return item_row({"archival_code": item.archival_code, "title": item_title(item),
                     "category": CATEGORIES[item.category].name, "fiscal_year": item.fiscal_year,
                     "retention": item.retention, "retention_until": item.retention_until, **extra}, on)


class DispositionService:
    """Holds, appraisals and destruction lists of one organisation (request-scoped)."""

    def __init__(self, filing: Filing, *, person_id: int | None, role: str) -> None:
        self.filing = filing
        self.db = filing.db
        self.audit = filing.audit
        self.org_id = filing.org_id
        self.actor = filing.actor
        self.person_id = person_id
        self.role = role

    @classmethod
    def factory(cls, context: Any, request: Any) -> DispositionService:
        return cls(Filing.for_request(request), person_id=request.identity.person_id, role=request.identity.role)

    def _item(self, item_id: Any, *, lock: bool = False) -> ArchiveItem:
        return scoped_get(self.db, ArchiveItem, item_id, self.org_id, for_update=lock)

    # -- holds ---------------------------------------------------------------------------------
    def place_hold(self, item_id: Any, matter: str, reason: str) -> ArchiveHold:
        if matter not in MATTERS:
            raise Invalid(f"未了事项类型 {matter!r} 不可识别；可选 {', '.join(MATTERS)}（{'、'.join(MATTERS.values())}）。",
                          code="hold_matter_unknown")
        reason = _text(reason)
        if not reason:
            raise Invalid("请写明未了事项（如对方单位、金额、合同号）。", code="hold_reason_required")
        item = self._item(item_id, lock=True)      # a destruction's execution locks it too
        ensure_not_destroyed(self.db, item)
        current = active_hold(self.db, item.id)
        if current is not None:
            raise Conflict(f"档案 {item.archival_code} 已因“{current.reason}”由 {current.placed_by} 暂缓销毁，不必重复登记。",
                           code="hold_already_active", detail={"hold": hold_json(current)})
        destruction = live_destruction(self.db, item.id)
        if destruction is not None and destruction.status in (DestructionStatus.EXECUTING,):
            raise Conflict(f"档案 {item.archival_code} 正按销毁清册 {destruction.number} 销毁，已不能暂缓。",
                           code="destruction_in_progress", detail={"destruction": destruction.number})
        hold = ArchiveHold(org_id=self.org_id, item_id=item.id, matter=matter, reason=reason, placed_by=self.actor,
                           person_id=self.person_id, placed_at=utcnow())
        try:
            with self.db.begin_nested():
                self.db.add(hold)
                self.db.flush()
        except IntegrityError:
            self.db.expire_all()
            current = active_hold(self.db, item.id)
            raise Conflict(f"档案 {item.archival_code} 已暂缓销毁，不必重复登记。", code="hold_already_active",
                           detail={"hold": hold_json(current) if current else None}) from None
        self.audit.record("archive.hold_placed", "archive_item", item.archival_code, matter=matter, reason=reason,
                          on_destruction_list=destruction.number if destruction else None)
        return hold

    def release_hold(self, hold_id: Any, reason: str) -> ArchiveHold:
        reason = _text(reason)
        if not reason:
            raise Invalid("请写明未了事项如何了结。", code="hold_reason_required")
        hold = scoped_named(self.db, ArchiveHold, hold_id, self.org_id, "暂缓记录", "hold_not_found", lock=True)
        if hold.released_at is not None:
            raise Conflict(f"该暂缓记录已于 {hold.released_at.astimezone(CHINA):%Y-%m-%d} 由 {hold.released_by} 解除。",
                           code="hold_already_released", detail={"hold": hold_json(hold)})
        hold.released_at, hold.released_by, hold.release_reason = utcnow(), self.actor, reason
        self.audit.record("archive.hold_released", "archive_item", hold.item.archival_code, reason=reason,
                          hold_id=hold.id)
        return hold

    def holds(self, *, item_id: int | None = None, active: bool | None = None, limit: int = 50,
              offset: int = 0) -> tuple[list[ArchiveHold], int]:
        stmt = select(ArchiveHold).where(ArchiveHold.org_id == self.org_id)
        if item_id is not None:
            stmt = stmt.where(ArchiveHold.item_id == item_id)
        if active is not None:
            stmt = stmt.where(ArchiveHold.released_at.is_(None) if active else ArchiveHold.released_at.is_not(None))
        total = self.db.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
        return list(self.db.execute(stmt.order_by(ArchiveHold.id).limit(limit).offset(offset)).scalars()), total

    # -- appraisal ------------------------------------------------------------------------------
    def due(self, as_of: dt.date) -> list[ArchiveItem]:
        """Current items whose retention had ended before ``as_of`` (permanent ones never do),
        not destroyed and on no live destruction list: the candidates for 鉴定."""
        items = list(self.db.execute(select(ArchiveItem).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.retention_until.is_not(None),
            ArchiveItem.retention_until < as_of, ArchiveItem.withdrawn_at.is_(None),
            ~ArchiveItem.id.in_(select(ArchiveTombstone.item_id)),
            ~ArchiveItem.id.in_(select(DestructionEntry.item_id).where(DestructionEntry.released_at.is_(None))))
            .order_by(ArchiveItem.retention_until, ArchiveItem.archival_code)).scalars())
        ends = _effective_end(self.db, items)
        return [i for i in items if ends[i.id] is not None and ends[i.id] < as_of]

    def appraise(self, *, as_of: dt.date | None, participants: list[Mapping[str, Any]], opinion: str,
                 retain: Iterable[Mapping[str, Any]] = (), waivers: Iterable[Waiver] = ()) -> Appraisal:
        today = china_today()
        as_of = as_of or today
        if as_of > today:
            raise Invalid(f"鉴定基准日 {as_of} 晚于今天：只能鉴定保管期限已满的档案。", code="appraisal_date_in_future")
        people = [{"name": _text(p.get("name")), "unit": _text(p.get("unit"))} for p in participants or ()]
        if any(not p["name"] or not p["unit"] for p in people):
            raise Invalid("每位鉴定人员须写明姓名和所在机构。", code="appraisal_participants_invalid")
        missing = [u for u in APPRAISING_UNITS if u not in {p["unit"] for p in people}]
        if missing or len({p["name"] for p in people}) < 2:
            raise Invalid(f"会计档案鉴定由档案管理机构牵头，会同会计管理机构等共同进行（会计档案管理办法第十七条）："
                          f"至少两人，须有{'、'.join(APPRAISING_UNITS)}的人员" + (f"，缺少{'、'.join(missing)}" if missing else "")
                          + "。", code="appraisal_participants_invalid", detail={"missing_units": missing})
        opinion = str(opinion or "").strip()
        if not opinion:
            raise Invalid("请填写鉴定意见。", code="appraisal_opinion_required")
        # the items due are locked, so a hold placed meanwhile is seen or waits
        due = self.due(as_of)
        if not due:
            raise Conflict(f"截至 {as_of}，没有保管期限已满、待鉴定的档案。", code="nothing_to_appraise")
        ids = [i.id for i in due]
        self.db.execute(select(ArchiveItem.id).where(ArchiveItem.id.in_(ids)).order_by(ArchiveItem.id)
                        .with_for_update()).all()
        retained: dict[int, tuple[dt.date, str]] = {}
        by_id = {i.id: i for i in due}
        for r in retain or ():
            try:
                item_id, until = int(r["item_id"]), dt.date.fromisoformat(str(r["until"]))
            except (KeyError, TypeError, ValueError):
                raise Invalid("继续保管须给出档案 item_id 和新的保管期限截止日期 until（YYYY-MM-DD）。",
                              code="appraisal_retain_invalid") from None
            if item_id not in by_id:
                raise Invalid(f"档案 {item_id} 不在本次鉴定范围内（保管期限未满、已销毁或已列入销毁清册）。",
                              code="appraisal_retain_invalid", detail={"item_id": item_id})
            if until <= as_of:
                raise Invalid(f"继续保管的截止日期 {until} 须晚于鉴定基准日 {as_of}。", code="appraisal_retain_invalid")
            retained[item_id] = (until, _text(r.get("reason")) or "经鉴定仍有保存价值")
        holds = {h.item_id: h for h in self.db.execute(select(ArchiveHold).where(
            ArchiveHold.item_id.in_(ids), ArchiveHold.released_at.is_(None))).scalars()}
        year = today.year
        number = f"JD-{year}-{next_value(self.db, self.org_id, f'appraisal:{year}'):04d}"
        entries, rows = [], []
        for item in due:
            if item.id in holds:
                conclusion, reason, until = "held", f"{MATTERS[holds[item.id].matter]}：{holds[item.id].reason}", None
            elif item.id in retained:
                until, reason = retained[item.id]
                conclusion = "retain"
            else:
                conclusion, reason, until = "destroy", "保管期满，确无保存价值", None
            entries.append(AppraisalEntry(item_id=item.id, conclusion=conclusion, reason=reason, retain_until=until))
            rows.append(_row(item, today, conclusion=CONCLUSIONS[conclusion], reason=reason,
                             new_retention_until=until.isoformat() if until else ""))
        org = self.db.get(Organisation, self.org_id)
        xml = appraisal_opinion_xml(number=number, org_name=org.name, fonds=org.fonds_code, on=today,
                                    prepared_by=self.actor, participants=people, opinion=opinion, rows=rows)
        now = utcnow()
        draft = RecordDraft(
            kind="appraisal_opinion", fiscal_year=today.year, period=today.month, document_number=number,
            title=f"会计档案鉴定意见书（{number}，{len(due)} 件）", record_xml=xml, date=today, prepared_by=self.actor,
            source_system="invoice-archive",
            origin={"action": "record.generated", "at": now.isoformat(), "actor": self.actor,
                    "description": f"鉴定 {len(due)} 件保管期满的档案，鉴定人员：" + "、".join(
                        f"{p['name']}（{p['unit']}）" for p in people)})
        try:
            opinion_item, _ = file_once(self.filing, draft, waivers)
        except RecordCheckFailed as exc:
            raise exc.error() from None
        appraisal = Appraisal(org_id=self.org_id, number=number, as_of=as_of, opinion=opinion, participants=people,
                              created_by=self.actor, person_id=self.person_id, created_at=now,
                              opinion_item_id=opinion_item.id, entries=entries)
        self.db.add(appraisal)
        self.db.flush()
        self.audit.record("archive.appraised", "appraisal", number, as_of=as_of.isoformat(), items=len(due),
                          destroy=sum(e.conclusion == "destroy" for e in entries),
                          retain=sum(e.conclusion == "retain" for e in entries),
                          held=sum(e.conclusion == "held" for e in entries), opinion_item=opinion_item.archival_code)
        return appraisal

    # -- the custody list (保管清册, 第十条, 第十九条) -------------------------------------------------
    def custody_list(self, fiscal_year: int, waivers: Iterable[Waiver] = ()) -> ArchiveItem:
        """The 会计档案保管清册 of a fiscal year's items as they stand (在库, 已移交, 暂缓销毁;
        destroyed ones are on their 销毁清册), with the items held past their retention named
        apart (第十九条: 单独转存), drawn up and archived permanently."""
        items = list(self.db.execute(select(ArchiveItem).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.fiscal_year == fiscal_year,
            ArchiveItem.withdrawn_at.is_(None), ~ArchiveItem.id.in_(select(ArchiveTombstone.item_id)))
            .order_by(ArchiveItem.archival_code)).scalars())
        if not items:
            raise Conflict(f"{fiscal_year} 年度没有保管中的档案。", code="nothing_in_custody")
        states = item_states(self.db, items)
        today = china_today()
        rows, held = [], []
        for item in items:
            state = states[item.id]
            label = "暂缓销毁" if state["hold"] else "已移交" if (state["transfer"] or {}).get("transferred") else "在库"
            rows.append(_row(item, today, state=label))
            if state["hold"]:
                held.append(_row(item, today, reason=f"{state['hold']['matter_name']}：{state['hold']['reason']}"))
        number = f"BGQC-{today.year}-{next_value(self.db, self.org_id, f'custody:{today.year}'):04d}"
        org = self.db.get(Organisation, self.org_id)
        xml = custody_list_xml(number=number, org_name=org.name, fonds=org.fonds_code, on=today,
                               prepared_by=self.actor, fiscal_year=fiscal_year, rows=rows, held=held)
        draft = RecordDraft(
            kind="custody_list", fiscal_year=today.year, period=today.month, document_number=number,
            title=f"{fiscal_year}年度会计档案保管清册（{number}，{len(rows)} 件）", record_xml=xml, date=today,
            prepared_by=self.actor, source_system="invoice-archive",
            origin={"action": "record.generated", "at": utcnow().isoformat(), "actor": self.actor,
                    "description": f"编制 {fiscal_year} 年度会计档案保管清册"})
        try:
            item, _ = file_once(self.filing, draft, waivers)
        except RecordCheckFailed as exc:
            raise exc.error() from None
        self.audit.record("archive.custody_listed", "fiscal_year", fiscal_year, items=len(rows), held=len(held),
                          list_item=item.archival_code)
        return item

    def appraisal(self, appraisal_id: Any) -> Appraisal:
        return _scoped(self.db, Appraisal, appraisal_id, self.org_id, "鉴定", "appraisal_not_found")

    # -- destruction ------------------------------------------------------------------------------
    def propose(self, appraisal_id: Any, item_ids: Iterable[Any] | None = None) -> Destruction:
        appraisal = self.appraisal(appraisal_id)
        destroyable = {e.item_id: e for e in appraisal.entries if e.conclusion == "destroy"}
        wanted = [int(i) for i in item_ids] if item_ids else list(destroyable)
        not_concluded = [i for i in wanted if i not in destroyable]
        if not_concluded:
            raise Invalid(f"鉴定 {appraisal.number} 未将档案 {not_concluded} 鉴定为可销毁，不能列入销毁清册。",
                          code="not_appraised_for_destruction", detail={"item_ids": not_concluded})
        if not wanted:
            raise Conflict(f"鉴定 {appraisal.number} 没有鉴定为可销毁的档案。", code="nothing_to_destroy")
        items = list(self.db.execute(select(ArchiveItem).where(ArchiveItem.id.in_(wanted)).order_by(ArchiveItem.id)
                                     .with_for_update()).scalars())
        problems = []
        for item in items:
            hold = active_hold(self.db, item.id)
            if hold is not None:
                problems.append({"archival_code": item.archival_code, "code": "item_on_hold", "reason": hold.reason})
            elif tombstone(self.db, item.id) is not None:
                problems.append({"archival_code": item.archival_code, "code": "archive_item_destroyed"})
            elif item.withdrawn_at is not None:
                problems.append({"archival_code": item.archival_code, "code": "already_withdrawn"})
        if problems:
            why = {"item_on_hold": "暂缓销毁", "archive_item_destroyed": "已销毁", "already_withdrawn": "归档标记已撤销"}
            raise Conflict("以下档案不能列入销毁清册：" + "；".join(
                f"{p['archival_code']}（{why[p['code']]}" + (f"：{p['reason']}" if p.get("reason") else "") + "）"
                for p in problems), code=problems[0]["code"], detail={"items": problems})
        year = china_today().year
        number = f"XH-{year}-{next_value(self.db, self.org_id, f'destruction:{year}'):04d}"
        destruction = Destruction(org_id=self.org_id, number=number, appraisal_id=appraisal.id,
                                  status=DestructionStatus.PROPOSED, created_by=self.actor, person_id=self.person_id,
                                  created_at=utcnow(),
                                  entries=[DestructionEntry(item_id=i.id) for i in items])
        try:
            with self.db.begin_nested():
                self.db.add(destruction)
                self.db.flush()
        except IntegrityError:
            self.db.expire_all()
            taken = [(i.archival_code, d.number) for i in items if (d := live_destruction(self.db, i.id))]
            raise Conflict("以下档案已列入另一份销毁清册：" + "；".join(f"{c}（{n}）" for c, n in taken),
                           code="item_on_destruction_list", detail={"items": [
                               {"archival_code": c, "destruction": n} for c, n in taken]}) from None
        self.audit.record("archive.destruction_proposed", "destruction", number, appraisal=appraisal.number,
                          items=[i.archival_code for i in items])
        return destruction

    def destruction(self, destruction_id: Any, *, lock: bool = False) -> Destruction:
        return _scoped(self.db, Destruction, destruction_id, self.org_id, "销毁清册", "destruction_not_found",
                       lock=lock)

    def decide(self, destruction_id: Any, decision: str, capacity: str, opinion: str | None) -> Destruction:
        """An approver's approval (or refusal) of a proposed list. Two approvals by two
        different people, neither the proposer, approve it; one refusal cancels it."""
        if decision not in ("approve", "refuse"):
            raise Invalid(f"决定 {decision!r} 不可识别。", code="decision_unknown")
        capacity = _text(capacity)
        if capacity not in APPROVER_CAPACITIES:
            raise Invalid(f"签署身份须为{'、'.join(APPROVER_CAPACITIES)}之一（会计档案管理办法第十八条）。",
                          code="approval_capacity_unknown", detail={"capacities": list(APPROVER_CAPACITIES)})
        if self.person_id is None:
            raise Forbidden("签署销毁清册须以本人身份（令牌须属于一个人）。", code="approver_unknown")
        destruction = self.destruction(destruction_id, lock=True)
        if destruction.status != DestructionStatus.PROPOSED:
            raise Conflict(f"销毁清册 {destruction.number} 的状态为{_STATUS[destruction.status]}，不能再签署。",
                           code="destruction_state_conflict", detail={"status": destruction.status})
        if destruction.person_id == self.person_id:
            raise Forbidden(f"销毁清册 {destruction.number} 由您编制，须由他人审批（不相容职务分离）。",
                            code="segregation_of_duties")
        if any(a.person_id == self.person_id for a in destruction.approvals):
            raise Conflict(f"您已签署过销毁清册 {destruction.number}。", code="already_approved")
        approval = DestructionApproval(destruction_id=destruction.id, person_id=self.person_id, name=self.actor,
                                       capacity=capacity, decision=decision, opinion=_text(opinion) or None, at=utcnow())
        try:
            with self.db.begin_nested():
                self.db.add(approval)
                self.db.flush()
        except IntegrityError:
            raise Conflict(f"您已签署过销毁清册 {destruction.number}。", code="already_approved") from None
        self.db.expire(destruction, ["approvals"])
        if decision == "refuse":
            now = utcnow()
            destruction.status = DestructionStatus.CANCELLED
            destruction.cancelled_at, destruction.cancelled_by = now, self.actor
            destruction.cancel_reason = approval.opinion or f"{capacity}不同意销毁"
            for entry in destruction.entries:
                entry.released_at = now
            self.audit.record("archive.destruction_refused", "destruction", destruction.number, capacity=capacity,
                              opinion=approval.opinion)
        else:
            approvals = [a for a in destruction.approvals if a.decision == "approve"]
            self.audit.record("archive.destruction_approval", "destruction", destruction.number, capacity=capacity,
                              opinion=approval.opinion, approvals=len(approvals))
            if len({a.person_id for a in approvals}) >= REQUIRED_APPROVALS:
                destruction.status = DestructionStatus.APPROVED
                self.audit.record("archive.destruction_approved", "destruction", destruction.number,
                                  approvers=[f"{a.name}（{a.capacity}）" for a in approvals])
        return destruction

    def begin_execution(self, destruction_id: Any, *, supervisors: list[Mapping[str, Any]],
                        counted: int | None) -> Destruction:
        """Phase 1 of the execution, in this transaction: the 监销 record and a tombstone for
        each item (their content still stored). A list already executing is resumed as it is."""
        destruction = self.destruction(destruction_id, lock=True)
        return begin_execution(self.db, self.filing.store, self.audit, destruction, actor=self.actor,
                               supervisors=supervisors, counted=counted)


_STATUS = {"proposed": "待审批", "approved": "已批准", "executing": "销毁中", "destroyed": "已销毁", "cancelled": "已取消"}


def _scoped(db: Session, model: type, ident: Any, org_id: int, label: str, code: str, *, lock: bool = False) -> Any:
    return scoped_named(db, model, ident, org_id, label, code, lock=lock)


def _supervision(supervisors: list[Mapping[str, Any]], counted: int | None, entries: int,
                 actor: str) -> list[dict[str, Any]]:
    people = [{"name": _text(s.get("name")), "unit": _text(s.get("unit"))} for s in supervisors or ()]
    missing = [u for u in SUPERVISING_UNITS if u not in {p["unit"] for p in people}]
    if missing or any(not p["name"] for p in people) or len({p["name"] for p in people}) < len(people):
        raise Invalid(f"电子会计档案的销毁由{'、'.join(SUPERVISING_UNITS)}共同派员监销（会计档案管理办法第十八条）："
                      f"请写明每位监销人的姓名和机构" + (f"，缺少{'、'.join(missing)}的监销人" if missing else "") + "。",
                      code="supervision_incomplete", detail={"missing_units": missing})
    if counted is None or int(counted) != entries:
        raise Invalid(f"监销人须在销毁前按清册清点核对：清册列 {entries} 件，清点为 {counted if counted is not None else '（未填）'} 件。",
                      code="count_mismatch", detail={"listed": entries, "counted": counted})
    at = _china(utcnow())
    return [{**p, "checked": f"已清点核对 {entries} 件", "at": at, "recorded_by": actor} for p in people]


def _objects(db: Session, item: ArchiveItem) -> list[dict[str, Any]]:
    """Every stored object that holds the item's content: its package, the packages of
    earlier (withdrawn) items of the same voucher or record, and the originals filed in
    it (a voucher's invoices, a bank statement's file)."""
    same = ArchiveItem.voucher_id == item.voucher_id if item.voucher_id else ArchiveItem.record_key == item.record_key
    items = db.execute(select(ArchiveItem).where(ArchiveItem.org_id == item.org_id, same)
                       .order_by(ArchiveItem.id)).scalars().all()
    objects = [{"key": i.package_key, "sha256": i.package_sha256, "size": i.package_size} for i in items]
    invoices: list[Invoice] = []
    if item.voucher_id is not None:
        voucher = db.get(Voucher, item.voucher_id)
        if not voucher.red_flag:
            invoices = list(db.execute(select(Invoice).join(ClaimInvoice, ClaimInvoice.invoice_id == Invoice.id)
                                       .where(ClaimInvoice.claim_id == voucher.claim_id).order_by(Invoice.id)).scalars())
    elif item.invoice_id is not None:
        invoices = [db.get(Invoice, item.invoice_id)]
    objects += [{"key": inv.storage_key, "sha256": inv.sha256, "size": inv.size_bytes} for inv in invoices]
    seen, out = set(), []
    for o in objects:
        if o["key"] not in seen:
            seen.add(o["key"])
            out.append(o)
    return out


def begin_execution(db: Session, store: Any, audit: AuditLog, destruction: Destruction, *, actor: str,
                    supervisors: list[Mapping[str, Any]], counted: int | None) -> Destruction:
    """Phase 1 (one transaction, the destruction row locked by the caller): check every item
    (no hold placed since, fixity intact), then write the 监销 record, the tombstones and the
    objects to remove, and mark the list executing."""
    if destruction.status == DestructionStatus.EXECUTING:
        return destruction          # resumed: phases 2 and 3 follow
    if destruction.status != DestructionStatus.APPROVED:
        code = "destruction_already_executed" if destruction.status == DestructionStatus.DESTROYED else \
            "destruction_state_conflict"
        raise Conflict(f"销毁清册 {destruction.number} 的状态为{_STATUS[destruction.status]}，"
                       + ("须经两人批准后才能执行销毁。" if destruction.status == DestructionStatus.PROPOSED else "不能执行销毁。"),
                       code=code, detail={"status": destruction.status})
    entries = [e for e in destruction.entries if e.released_at is None]
    supervision = _supervision(supervisors, counted, len(entries), actor)
    items = list(db.execute(select(ArchiveItem).where(ArchiveItem.id.in_([e.item_id for e in entries]))
                            .order_by(ArchiveItem.id).with_for_update()).scalars())
    held = [(i, h) for i in items if (h := active_hold(db, i.id)) is not None]
    if held:
        raise Conflict("以下档案在批准销毁后登记了未了事项，暂缓销毁，本清册不能执行：" + "；".join(
            f"{i.archival_code}（{h.reason}）" for i, h in held) + "。请解除暂缓或重新编制销毁清册。",
            code="item_on_hold", detail={"items": [{"archival_code": i.archival_code, "hold": hold_json(h)}
                                                   for i, h in held]})
    now = utcnow()
    for item in items:
        data = package_bytes(store, item)            # present and unchanged, or a 503 for a person to look at
        contents = package_contents(data)
        meta = contents.payload.get(f"data/{item.archival_code}-metadata.xml", b"")
        objects = _objects(db, item)
        db.add(ArchiveTombstone(item_id=item.id, org_id=item.org_id, destruction_id=destruction.id,
                                archival_code=item.archival_code, package_sha256=item.package_sha256,
                                package_sm3=item.package_sm3, package_size=item.package_size,
                                manifest=item.manifest, metadata_xml=meta.decode("utf-8"), objects=objects,
                                destroyed_at=now, destroyed_by=actor))
        for o in objects:
            db.add(DestroyedObject(org_id=item.org_id, store_key=o["key"], sha256=o["sha256"], size=o["size"],
                                   item_id=item.id, destruction_id=destruction.id))
    destruction.status = DestructionStatus.EXECUTING
    destruction.executed_by, destruction.executed_at, destruction.supervision = actor, now, supervision
    db.flush()
    audit.record("archive.destruction_started", "destruction", destruction.number, items=len(items),
                 supervision=[f"{s['name']}（{s['unit']}）" for s in supervision])
    return destruction


def remove_content(db: Session, store: Any, destruction: Destruction) -> tuple[int, int]:
    """Phase 2 (no transaction needed): remove every object the tombstones name from the
    store, through its deliberate deletion path. Safe to repeat: an object already gone is
    skipped. (removed, already gone)."""
    removed = gone = 0
    objects = db.execute(select(DestroyedObject).where(DestroyedObject.destruction_id == destruction.id)
                         .order_by(DestroyedObject.id)).scalars().all()
    for obj in objects:
        try:
            if store.destroy(obj.store_key, obj.sha256):
                removed += 1
            else:
                gone += 1
        except DestructionRefused as exc:
            raise StoreUnavailable(f"存储中的 {exc.key} 已不是销毁清册 {destruction.number} 所列的对象（校验值不符），"
                                   f"未删除。请档案管理员核查后重新执行。", code="destruction_refused", status=503,
                                   detail={"key": exc.key}) from exc
        except OSError as exc:
            raise StoreUnavailable(f"归档存储不可用，销毁未完成，可稍后重新执行：{exc}", code="store_unavailable",
                                   status=503) from exc
    return removed, gone


def complete(db: Session, filing: Filing, destruction: Destruction, waivers: Iterable[Waiver] = ()) -> Destruction:
    """Phase 3 (one transaction, the destruction row locked by the caller): the final 销毁清册
    with the 销毁时间, the approvals and the 监销, archived permanently; the list destroyed."""
    if destruction.status == DestructionStatus.DESTROYED:
        return destruction
    if destruction.status != DestructionStatus.EXECUTING:
        raise Conflict(f"销毁清册 {destruction.number} 的状态为{_STATUS[destruction.status]}。",
                       code="destruction_state_conflict")
    org = db.get(Organisation, destruction.org_id)
    appraisal = destruction.appraisal
    on = destruction.executed_at.astimezone(CHINA).date()
    entries = [e for e in destruction.entries if e.released_at is None]
    rows = [_row(e.item, on) for e in entries]
    held = [(e.item, h) for e in appraisal.entries if e.conclusion == "held"
            for h in [active_hold(db, e.item_id)] if h is not None]
    approvals = [{"capacity": a.capacity, "name": a.name, "opinion": a.opinion or ("同意" if a.decision == "approve"
                                                                                  else "不同意"),
                  "at": _china(a.at)} for a in destruction.approvals]
    xml = destruction_list_xml(
        number=destruction.number, org_name=org.name, fonds=org.fonds_code, on=on, prepared_by=destruction.created_by,
        appraisal_number=appraisal.number, rows=rows, approvals=approvals, supervision=destruction.supervision or [],
        destroyed_at=_china(destruction.executed_at),
        held=[_row(i, on, reason=f"{MATTERS[h.matter]}：{h.reason}") for i, h in held])
    opinion_item = appraisal.opinion_item
    draft = RecordDraft(
        kind="destruction_list", fiscal_year=on.year, period=on.month, document_number=destruction.number,
        title=f"会计档案销毁清册（{destruction.number}，{len(rows)} 件）", record_xml=xml, date=on,
        prepared_by=destruction.created_by, source_system="invoice-archive",
        origin={"action": "record.generated", "at": destruction.created_at.isoformat(),
                "actor": destruction.created_by, "description": f"编制销毁清册，依据鉴定意见书 {appraisal.number}"},
        events=[{"action": "destruction.approved" if a.decision == "approve" else "destruction.refused",
                 "at": a.at.isoformat(), "actor": a.name, "description": f"{a.capacity}：{a.opinion or ''}"}
                for a in destruction.approvals] + [
            {"action": "destruction.executed", "at": destruction.executed_at.isoformat(),
             "actor": destruction.executed_by,
             "description": "监销：" + "、".join(f"{s['name']}（{s['unit']}）" for s in destruction.supervision or [])}],
        relations=[{"type": "依据", "target": appraisal.number, "archival_code": opinion_item.archival_code}])
    try:
        item, _ = file_once(filing, draft, waivers)
    except RecordCheckFailed as exc:
        raise exc.error() from None
    destruction.status = DestructionStatus.DESTROYED
    destruction.completed_at = utcnow()
    destruction.list_item_id = item.id
    for e in entries:
        filing.audit.record("archive.destroyed", "archive_item", e.item.archival_code, destruction=destruction.number,
                            package_sha256=e.item.package_sha256)
    filing.audit.record("archive.destruction_completed", "destruction", destruction.number, items=len(rows),
                        list_item=item.archival_code)
    return destruction


def finish(sessions: Any, store: Any, scanner: Any, retention: Mapping[str, int | None], *, org_id: int,
           actor: str, role: str, destruction_id: int, waivers: Iterable[Waiver] = ()) -> Destruction:
    """Phases 2 and 3 of an execution, each in its own session: after the request (or the
    command) that committed phase 1, or to resume one that was interrupted."""
    with sessions() as db:
        destruction = db.get(Destruction, destruction_id)
        if destruction.status == DestructionStatus.DESTROYED:
            return destruction
        removed, gone = remove_content(db, store, destruction)
    with sessions() as db, db.begin():
        destruction = _scoped(db, Destruction, destruction_id, org_id, "销毁清册", "destruction_not_found", lock=True)
        audit = AuditLog(db, org_id=org_id, actor=actor, role=role)
        if destruction.status == DestructionStatus.EXECUTING:
            audit.record("archive.content_removed", "destruction", destruction.number, removed=removed,
                         already_gone=gone)
        filing = Filing(db, store, audit, org_id=org_id, actor=actor, retention=retention, scanner=scanner)
        destruction = complete(db, filing, destruction, waivers)
        db.flush()
        number = destruction.number
    with sessions() as db:
        return db.execute(select(Destruction).where(Destruction.number == number, Destruction.org_id == org_id)
                          .options(selectinload(Destruction.entries), selectinload(Destruction.approvals))
                          ).scalar_one()


__all__ = ["APPROVER_CAPACITIES", "DispositionService", "MATTERS", "REQUIRED_APPROVALS", "SUPERVISING_UNITS",
           "begin_execution", "complete", "finish", "hold_json",
           "item_states", "remove_content"]
