"""Transfer (移交) of a year's archive from the accounting unit to the archives unit
(docs/disposition.md; 会计档案管理办法 第十一条, 第十二条, 第二十四条).

A transfer is prepared with every current item of a fiscal year that has ended (not
destroyed, on no other transfer), then signed by three different people: the 移交人
(the accounting unit's: finance, or an archivist acting for it), the 接收人 (the
archives unit's: an archivist) and the 监交人 (a 负责人: an approver). The third
signature completes it, in the same transaction: the 移交清册, listing each item with
应保管期限 and 已保管期限 and the three sign-offs, is signed with the service's key
and archived (30 years), and the items are marked transferred (their entries on a
completed transfer). ``GET .../package`` then gives the transfer package for the
receiver's own check (``invoice-archive transfer check``).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from invoice_archive.archive.checks import Waiver
from invoice_archive.archive.lists import item_row, sign_list, transfer_list_xml, verify_list_signature
from invoice_archive.archive.retention import CATEGORIES
from invoice_archive.archive.transfer import LIST_XML, TransferItem, build_transfer
from invoice_archive.db import utcnow
from invoice_archive.errors import Conflict, DomainError, Forbidden, Invalid
from invoice_archive.models import (
    TRANSFER_ROLES, ArchiveItem, ArchiveTombstone, Organisation, Transfer, TransferEntry, TransferSignoff,
    TransferStatus,
)
from invoice_archive.digests import sha256_hex
from invoice_archive.services.filing import (
    CHINA, Attachment, Filing, RecordCheckFailed, RecordDraft, china_today, file_once, item_title,
)
from invoice_archive.services.scoping import package_bytes, scoped_named
from invoice_archive.services.sequences import next_value

#: which roles may sign in which capacity (docs/disposition.md)
SIGNERS = {"handover": ("finance", "archivist"), "receiver": ("archivist",), "supervisor": ("approver",)}
_STATUS = {"prepared": "待签署", "completed": "已移交", "cancelled": "已取消"}


class SigningUnconfigured(DomainError):
    status = 503
    code = "bundle_signing_unconfigured"


class TransferService:
    def __init__(self, filing: Filing, *, person_id: int | None, role: str, signer: Any) -> None:
        self.filing = filing
        self.db = filing.db
        self.audit = filing.audit
        self.org_id = filing.org_id
        self.actor = filing.actor
        self.person_id = person_id
        self.role = role
        self.signer = signer

    @classmethod
    def factory(cls, context: Any, request: Any) -> TransferService:
        from invoice_archive.services.bundles import signer_from_registry

        return cls(Filing.for_request(request), person_id=request.identity.person_id, role=request.identity.role,
                   signer=signer_from_registry(request.registry))

    def get(self, transfer_id: Any, *, lock: bool = False) -> Transfer:
        return scoped_named(self.db, Transfer, transfer_id, self.org_id, "移交", "transfer_not_found", lock=lock)

    def prepare(self, fiscal_year: int, receiver_unit: str) -> Transfer:
        receiver_unit = " ".join(str(receiver_unit or "").split())
        if not receiver_unit:
            raise Invalid("请写明接收单位（如本单位档案管理机构）。", code="receiver_unit_required")
        today = china_today()
        if fiscal_year >= today.year:
            raise Conflict(f"{fiscal_year} 年度尚未终了：会计档案在会计年度终了后移交（会计档案管理办法第十一条）。",
                           code="fiscal_year_not_ended")
        items = list(self.db.execute(select(ArchiveItem).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.fiscal_year == fiscal_year,
            ArchiveItem.withdrawn_at.is_(None), ~ArchiveItem.id.in_(select(ArchiveTombstone.item_id)),
            ~ArchiveItem.id.in_(select(TransferEntry.item_id).where(TransferEntry.released_at.is_(None))))
            .order_by(ArchiveItem.archival_code).with_for_update()).scalars())
        if not items:
            raise Conflict(f"{fiscal_year} 年度没有待移交的档案（均已移交、已销毁或尚未归档）。", code="nothing_to_transfer")
        year = today.year
        number = f"YJ-{year}-{next_value(self.db, self.org_id, f'transfer:{year}'):04d}"
        transfer = Transfer(org_id=self.org_id, number=number, fiscal_year=fiscal_year, receiver_unit=receiver_unit,
                            status=TransferStatus.PREPARED, created_by=self.actor, person_id=self.person_id,
                            created_at=utcnow(), entries=[TransferEntry(item_id=i.id) for i in items])
        try:
            with self.db.begin_nested():
                self.db.add(transfer)
                self.db.flush()
        except IntegrityError:
            raise Conflict(f"{fiscal_year} 年度的档案已列入另一份移交清册，请先完成或取消它。",
                           code="item_on_transfer") from None
        self.audit.record("archive.transfer_prepared", "transfer", number, fiscal_year=fiscal_year,
                          receiver_unit=receiver_unit, items=len(items))
        return transfer

    def sign(self, transfer_id: Any, role: str, *, unit: str | None = None, comment: str | None = None,
             waivers: Iterable[Waiver] = ()) -> Transfer:
        if role not in TRANSFER_ROLES:
            raise Invalid(f"签署身份 {role!r} 不可识别；可选 handover（移交人）、receiver（接收人）、supervisor（监交人）。",
                          code="signoff_role_unknown")
        if self.role not in SIGNERS[role]:
            raise Forbidden(f"{TRANSFER_ROLES[role]}须由{'、'.join(SIGNERS[role])}角色签署。",
                            code="signoff_role_not_allowed", detail={"allowed": list(SIGNERS[role])})
        if self.person_id is None:
            raise Forbidden("签署移交清册须以本人身份（令牌须属于一个人）。", code="signer_unknown")
        transfer = self.get(transfer_id, lock=True)
        if transfer.status != TransferStatus.PREPARED:
            raise Conflict(f"移交 {transfer.number} 的状态为{_STATUS[transfer.status]}，不能再签署。",
                           code="transfer_state_conflict", detail={"status": transfer.status})
        done = {s.role: s for s in transfer.signoffs}
        if role in done:
            raise Conflict(f"移交 {transfer.number} 的{TRANSFER_ROLES[role]}已由 {done[role].name} 签署。",
                           code="signoff_already_recorded", detail={"role": role, "by": done[role].name})
        mine = [s for s in transfer.signoffs if s.person_id == self.person_id]
        if mine:
            raise Forbidden(f"您已作为{TRANSFER_ROLES[mine[0].role]}签署了移交 {transfer.number}：移交人、接收人和监交人"
                            f"须是三个不同的人。", code="segregation_of_duties")
        completing = len(done) == len(TRANSFER_ROLES) - 1
        if completing and self.signer is None:
            raise SigningUnconfigured("签名密钥未配置（bundle.signing_key），移交清册不能签名，暂不能完成移交。请联系管理员。")
        signoff = TransferSignoff(transfer_id=transfer.id, role=role, person_id=self.person_id, name=self.actor,
                                  unit=" ".join(str(unit or "").split()) or None, comment=(comment or "").strip() or None,
                                  at=utcnow())
        try:
            with self.db.begin_nested():
                self.db.add(signoff)
                self.db.flush()
        except IntegrityError:
            raise Conflict(f"移交 {transfer.number} 的{TRANSFER_ROLES[role]}已签署。", code="signoff_already_recorded") \
                from None
        self.db.expire(transfer, ["signoffs"])
        self.audit.record("archive.transfer_signed", "transfer", transfer.number, role=role,
                          capacity=TRANSFER_ROLES[role], unit=signoff.unit, comment=signoff.comment)
        if completing:
            self._complete(transfer, list(waivers))
        return transfer

    def _complete(self, transfer: Transfer, waivers: list[Waiver]) -> None:
        org = self.db.get(Organisation, self.org_id)
        today = china_today()
        entries = [e for e in transfer.entries if e.released_at is None]
        rows = []
        for e in entries:
            item = e.item
            rows.append(item_row({"archival_code": item.archival_code, "title": item_title(item),
                                  "category": CATEGORIES[item.category].name, "fiscal_year": item.fiscal_year,
                                  "retention": item.retention, "retention_until": item.retention_until,
                                  "file_count": len(item.manifest),
                                  "byte_count": sum(int(m["size"]) for m in item.manifest),
                                  "package_sha256": item.package_sha256, "package_sm3": item.package_sm3}, today))
        signoffs = [{"capacity": TRANSFER_ROLES[s.role], "name": s.name, "unit": s.unit or "",
                     "opinion": s.comment or "", "at": s.at.astimezone(CHINA).isoformat(timespec="seconds")}
                    for s in sorted(transfer.signoffs, key=lambda s: list(TRANSFER_ROLES).index(s.role))]
        xml = transfer_list_xml(number=transfer.number, org_name=org.name, fonds=org.fonds_code, on=today,
                                prepared_by=transfer.created_by, fiscal_year=transfer.fiscal_year,
                                receiver_unit=transfer.receiver_unit, rows=rows, signoffs=signoffs)
        signature = sign_list(xml, self.signer, signed_file=LIST_XML)
        ok = not verify_list_signature(xml, signature, self.signer.public_key_pem())
        now = utcnow()
        draft = RecordDraft(
            kind="transfer_list", fiscal_year=today.year, period=today.month, document_number=transfer.number,
            title=f"{transfer.fiscal_year}年度会计档案移交清册（{transfer.number}，{len(rows)} 件）", record_xml=xml,
            date=today, prepared_by=transfer.created_by, source_system="invoice-archive",
            origin={"action": "record.generated", "at": transfer.created_at.isoformat(), "actor": transfer.created_by,
                    "description": f"编制移交清册，接收单位：{transfer.receiver_unit}"},
            events=[{"action": f"transfer.signed.{s.role}", "at": s.at.isoformat(), "actor": s.name,
                     "description": f"{TRANSFER_ROLES[s.role]}签名" + (f"：{s.comment}" if s.comment else "")}
                    for s in transfer.signoffs],
            attachments=[Attachment("签名", signature, "json", "signature")],
            signatures=[{"object": transfer.number, "verdict": "valid" if ok else "invalid",
                         "verified_at": now.isoformat(),
                         "verifier": f"invoice-archive {self.signer.algorithm} {self.signer.key_id()[:16]}"}])
        try:
            item, _ = file_once(self.filing, draft, waivers)
        except RecordCheckFailed as exc:
            raise exc.error() from None
        transfer.status = TransferStatus.COMPLETED
        transfer.completed_at = now
        transfer.list_item_id = item.id
        self.audit.record("archive.transferred", "transfer", transfer.number, fiscal_year=transfer.fiscal_year,
                          items=[e.item.archival_code for e in entries], list_item=item.archival_code)

    def cancel(self, transfer_id: Any, reason: str) -> Transfer:
        reason = " ".join(str(reason or "").split())
        if not reason:
            raise Invalid("请写明取消移交的理由。", code="reason_required")
        transfer = self.get(transfer_id, lock=True)
        if transfer.status != TransferStatus.PREPARED:
            raise Conflict(f"移交 {transfer.number} 的状态为{_STATUS[transfer.status]}，不能取消。",
                           code="transfer_state_conflict", detail={"status": transfer.status})
        now = utcnow()
        transfer.status, transfer.cancelled_at, transfer.cancelled_by = TransferStatus.CANCELLED, now, self.actor
        for e in transfer.entries:
            e.released_at = now
        self.audit.record("archive.transfer_cancelled", "transfer", transfer.number, reason=reason)
        return transfer

    def package(self, transfer_id: Any) -> tuple[Transfer, bytes]:
        """The transfer package of a completed transfer: every item's package, the signed list."""
        transfer = self.get(transfer_id)
        if transfer.status != TransferStatus.COMPLETED:
            raise Conflict(f"移交 {transfer.number} 尚未由移交人、接收人和监交人签署完成，没有移交包。",
                           code="transfer_not_completed", detail={"status": transfer.status})
        if self.signer is None:
            raise SigningUnconfigured("签名密钥未配置（bundle.signing_key），不能附上验签公钥。")
        list_item = transfer.list_item
        from invoice_archive.archive.checks import package_contents

        contents = package_contents(package_bytes(self.filing.store, list_item))
        by_role = {f["role"]: contents.payload.get(f["path"], b"") for f in contents.files}
        items = [TransferItem(row={"archival_code": e.item.archival_code, "package_sha256": e.item.package_sha256},
                              package=package_bytes(self.filing.store, e.item))
                 for e in transfer.entries if e.released_at is None]
        data = build_transfer(items, list_xml=by_role["record"], signature=by_role["signature"],
                              public_key_pem=self.signer.public_key_pem(), created=transfer.completed_at)
        self.audit.record("archive.transfer_downloaded", "transfer", transfer.number, items=len(items),
                          sha256=sha256_hex(data))
        return transfer, data


def transfer_json(t: Transfer) -> dict[str, Any]:
    return {"id": t.id, "number": t.number, "fiscal_year": t.fiscal_year, "receiver_unit": t.receiver_unit,
            "status": t.status, "created_by": t.created_by, "created_at": t.created_at,
            "completed_at": t.completed_at, "cancelled_at": t.cancelled_at,
            "items": [{"item_id": e.item_id, "archival_code": e.item.archival_code} for e in t.entries
                      if e.released_at is None],
            "signoffs": [{"role": s.role, "capacity": TRANSFER_ROLES[s.role], "name": s.name, "unit": s.unit,
                          "comment": s.comment, "at": s.at} for s in t.signoffs],
            "list_item": None if t.list_item is None else {"id": t.list_item.id,
                                                           "archival_code": t.list_item.archival_code,
                                                           "retention": t.list_item.retention}}


__all__ = ["SIGNERS", "TransferService", "transfer_json"]
