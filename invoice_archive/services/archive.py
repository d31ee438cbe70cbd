"""Archiving a period: one item (件) per posted voucher, packaged as a BagIt bag."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from invoice_archive.archive.checks import check_package, expected_from_item
from invoice_archive.archive.codes import (
    DEFAULT_CLASS_SCHEME, RETENTION_YEARS, ArchivalCode, retention_code, retention_until,
    voucher_class_code,
)
from invoice_archive.archive.transfer import TransferItem, build_transfer
from invoice_archive.archive.metadata import claim_xml, item_metadata_xml, voucher_xml
from invoice_archive.archive.package import ManifestEntry, PackageFile, build_bag
from invoice_archive.db import utcnow
from invoice_archive.digests import sha256_hex, sm3_hex
from invoice_archive.errors import Conflict, StoreUnavailable
from invoice_archive.formats.normalize import invoice_number_keys
from invoice_archive.ports import IArchiveStore
from invoice_archive.models import (
    ArchiveItem, AuditEvent, Claim, ClaimInvoice, ClaimStatus, Invoice, InvoiceStatus, InvoiceVoucherLink,
    Organisation, Voucher,
)
from invoice_archive.services.audit import AuditLog
from invoice_archive.services.scoping import original_bytes, package_bytes, scoped_get
from invoice_archive.services.sequences import next_value

EXT_MEDIA = {"ofd": "application/ofd", "xml": "application/xml", "pdf": "application/pdf"}


class FourPropertyFailure(Exception):
    """A package failed the four-property check: it is not archived."""

    def __init__(self, voucher: Voucher, report: Any) -> None:
        super().__init__(voucher.display_number)
        self.voucher = voucher
        self.report = report.to_dict()
        self.codes = [c["code"] for c in self.report["checks"] if c["result"] == "fail"]

    def as_dict(self) -> dict[str, Any]:
        failing = [c for c in self.report["checks"] if c["result"] == "fail"]
        return {"voucher_id": self.voucher.id, "voucher_number": self.voucher.display_number,
                "code": "four_property_check_failed", "codes": self.codes,
                "message": f"凭证 {self.voucher.display_number} 未通过四性检测，未归档：" +
                           "；".join(f"{c['code']} {c['detail']}" for c in failing),
                "checks": failing}


class ArchivedMeanwhile(Exception):
    """Another run archived the voucher while this one waited for the counter."""

    def __init__(self, archival_code: str) -> None:
        super().__init__(archival_code)
        self.archival_code = archival_code


def _s(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return None if value is None else str(value)


class ArchiveService:
    def __init__(self, db: Session, store: Any, audit: AuditLog, *, org_id: int, actor: str,
                 retention_years: int | None = RETENTION_YEARS["voucher"], class_scheme: str = DEFAULT_CLASS_SCHEME,
                 scanner: Any = None) -> None:
        self.db = db
        self.class_scheme = class_scheme
        self.scanner = scanner
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
             limit: int = 50, offset: int = 0) -> tuple[list[ArchiveItem], int]:
        stmt = select(ArchiveItem).join(Voucher, ArchiveItem.voucher_id == Voucher.id).where(
            ArchiveItem.org_id == self.org_id)
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

    def bundle(self, item_id: int) -> tuple[ArchiveItem, bytes]:
        item = self.get(item_id)
        data = self._stored_package(item)
        self.audit.record("archive.downloaded", "archive_item", item.archival_code, sha256=item.package_sha256)
        return item, data

    def _stored_package(self, item: ArchiveItem) -> bytes:
        return package_bytes(self.store, item)

    def eep(self, item_id: int, signer: Any) -> tuple[ArchiveItem, bytes]:
        """The item as a DA/T 48 electronic-record encapsulation, rendered from its
        package (checked for fixity first) and signed with the bundle key."""
        from invoice_archive.archive.eep import build_eep
        from invoice_archive.services.bundles import SigningUnconfigured

        item = self.get(item_id)   # a wrong id is a 404 whatever the configuration
        if signer is None:
            raise SigningUnconfigured("签名密钥未配置（bundle.signing_key），暂不能生成 DA/T 48 封装包，请联系管理员。",
                                      code="bundle_signing_unconfigured", status=503)
        data = self._stored_package(item)
        org = self.db.get(Organisation, self.org_id)
        eep = build_eep(data, unit_name=org.name, unit_code=org.tax_id, created=item.archived_at, signer=signer)
        self.audit.record("archive.eep_downloaded", "archive_item", item.archival_code, sha256=sha256_hex(eep))
        return item, eep

    # -- archiving ---------------------------------------------------------
    def archive_period(self, fiscal_year: int, period: int) -> tuple[list[ArchiveItem], list[str], list[dict]]:
        """One item per posted voucher of the period not yet archived. Each package
        passes the four-property check before it is registered; one that fails is
        not archived (no number taken, nothing stored) and its failure codes are
        returned. Returns (archived, already archived codes, failures)."""
        org = self.db.get(Organisation, self.org_id)
        vouchers = self.db.execute(
            select(Voucher).where(Voucher.org_id == self.org_id, Voucher.fiscal_year == fiscal_year,
                                  Voucher.period == period)
            .options(selectinload(Voucher.entries),
                     selectinload(Voucher.claim).selectinload(Claim.lines).selectinload(ClaimInvoice.invoice),
                     selectinload(Voucher.claim).selectinload(Claim.signoffs))
            .order_by(Voucher.date, Voucher.voucher_word, Voucher.voucher_number)
        ).scalars().all()
        done = {
            item.voucher_id: item.archival_code for item in self.db.execute(
                select(ArchiveItem).where(ArchiveItem.voucher_id.in_([v.id for v in vouchers]),
                                          ArchiveItem.withdrawn_at.is_(None))).scalars()
        }
        items: list[ArchiveItem] = []
        failures: list[dict] = []
        pending = [v for v in vouchers if v.id not in done and not v.red_flag]
        if pending:
            adopted = self._resume(org, pending)
            items.extend(adopted)
            done.update({i.voucher_id: i.archival_code for i in adopted})
        for voucher in vouchers:
            if voucher.id in done or voucher.red_flag:
                continue
            try:
                with self.db.begin_nested():      # a failed check gives its number back
                    items.append(self._archive_voucher(org, voucher))
            except ArchivedMeanwhile as exc:
                done[voucher.id] = exc.archival_code
            except FourPropertyFailure as exc:
                failures.append(exc.as_dict())
                self.audit.record("archive.check_failed", "voucher", voucher.id, number=voucher.display_number,
                                  codes=exc.codes)
        already = sorted(code for vid, code in done.items() if vid not in {i.voucher_id for i in items})
        return items, already, failures

    # -- resuming an interrupted run ------------------------------------------------
    def _resume(self, org: Organisation, pending: list[Voucher]) -> list[ArchiveItem]:
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
                item = self._adopt_next(org, class_code, volume, candidates)
                if item is None:
                    break
                adopted.append(item)
                candidates = [v for v in candidates if v.id != item.voucher_id]
        return adopted

    def _adopt_next(self, org: Organisation, class_code: str, volume: int,
                    candidates: list[Voucher]) -> ArchiveItem | None:
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
                voucher, manifest, report = self._verify_orphan(data, code, candidates)
                item = self._register(org, voucher, code, item_no, key, data, manifest, report, adopted=True)
                self.db.flush()
                return item
        except _Free:
            return None

    def _verify_orphan(self, data: bytes, code: ArchivalCode,
                       candidates: list[Voucher]) -> tuple[Voucher, list[dict], Any]:
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
        if originals != [line.invoice.sha256 for line in owner.claim.lines]:
            raise conflict(f"其中的原始凭证与凭证 {owner.display_number} 的发票原件不一致")
        metadata_path = f"data/{code}-metadata.xml"
        meta = contents.payload.get(metadata_path)
        if meta is None:
            raise conflict("缺少元数据文件")
        manifest = [{**f, "size": int(f["size"])} for f in contents.files] + [
            ManifestEntry(path=metadata_path, role="metadata", media_type="application/xml", size=len(meta),
                          sha256=sha256_hex(meta), sm3=sm3_hex(meta)).as_dict()]
        report = check_package(data, self._expected(code, manifest, data), scanner=self.scanner)
        if not report.passed:
            failing = [f"{c.code} {c.detail}" for c in report.failures]
            raise conflict("未通过四性检测：" + "；".join(failing))
        return owner, manifest, report

    def _package_key(self, org: Organisation, fiscal_year: int, code: ArchivalCode) -> str:
        return f"packages/{org.fonds_code}/{fiscal_year}/{code}.zip"

    def _expected(self, code: ArchivalCode, manifest: list[dict], bag: bytes) -> dict[str, Any]:
        # GD-1-8 asks whether this code is already taken: ask the index, not every code
        known = set(self.db.execute(select(ArchiveItem.archival_code).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.archival_code == str(code))).scalars())
        numbers = sorted(self.db.execute(select(ArchiveItem.item_no).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.class_code == code.class_code,
            ArchiveItem.volume_no == code.volume)).scalars())
        return {
            "archival_code": str(code), "files": manifest, "file_count": len(manifest),
            "byte_count": sum(int(m["size"]) for m in manifest), "package_sha256": sha256_hex(bag),
            "package_sm3": sm3_hex(bag), "known_codes": known, "sequence": numbers + [code.item], "item_count": 1,
        }

    def _archive_voucher(self, org: Organisation, voucher: Voucher) -> ArchiveItem:
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
        now = utcnow()
        claim: Claim = voucher.claim
        invoices = [line.invoice for line in claim.lines]

        files = self._package_files(str(code), voucher, claim, invoices)
        metadata = self._metadata(org, code, voucher, claim, invoices, years)
        # the metadata describes every payload file before it, so it is built last
        described = [ManifestEntry(path=f"data/{f.name}", role=f.role, media_type=f.media_type, size=len(f.data),
                                   sha256=sha256_hex(f.data), sm3=sm3_hex(f.data)).as_dict() for f in files]
        files.append(PackageFile(f"{code}-metadata.xml", item_metadata_xml(metadata, described),
                                 "metadata", "application/xml"))
        bag, manifest = build_bag(str(code), files, {
            "Source-Organization": org.name,
            "External-Identifier": str(code),
            "External-Description": f"记账凭证 {voucher.voucher_word}-{voucher.voucher_number} 及其原始凭证",
            "Bag-Group-Identifier": class_code,
        }, now)
        manifest_dicts = [m.as_dict() for m in manifest]
        report = check_package(bag, self._expected(code, manifest_dicts, bag), scanner=self.scanner)
        if not report.passed:
            raise FourPropertyFailure(voucher, report)
        key = self._package_key(org, voucher.fiscal_year, code)
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
        claim = voucher.claim
        for line in claim.lines:
            line.invoice.status = InvoiceStatus.ARCHIVED
        claim.status = ClaimStatus.ARCHIVED
        self.audit.record("archive.archived", "archive_item", str(code), voucher_id=voucher.id,
                          package_sha256=sha, files=len(manifest), adopted_from_interrupted_run=adopted,
                          checks_not_performed=[c["code"] for c in report.to_dict()["checks"]
                                                if c["result"] == "not_performed"])
        return item

    # -- four-property checks on demand, and the archived mark -------------------
    def check_item(self, item: ArchiveItem) -> dict[str, Any]:
        """Re-run the four-property check on the stored package (DA/T 92 asks for a
        yearly re-check)."""
        try:
            data = self.store.get(item.package_key)
        except KeyError:
            data = b""
        others = set(self.db.execute(select(ArchiveItem.archival_code).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.id != item.id)).scalars())
        numbers = sorted(self.db.execute(select(ArchiveItem.item_no).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.class_code == item.class_code,
            ArchiveItem.volume_no == item.volume_no)).scalars())
        report = check_package(data, expected_from_item(item, known_codes=others, sequence=numbers, item_count=1),
                               scanner=self.scanner).to_dict()
        self.audit.record("archive.checked", "archive_item", item.archival_code, passed=report["passed"],
                          failures=[c["code"] for c in report["checks"] if c["result"] == "fail"])
        return report

    def check_year(self, fiscal_year: int) -> dict[str, Any]:
        items = self.db.execute(select(ArchiveItem).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.fiscal_year == fiscal_year,
            ArchiveItem.withdrawn_at.is_(None)).order_by(ArchiveItem.archival_code)).scalars().all()
        failed = []
        for item in items:
            report = self.check_item(item)
            if not report["passed"]:
                failed.append({"archival_code": item.archival_code, "item_id": item.id,
                               "codes": [c["code"] for c in report["checks"] if c["result"] == "fail"]})
        return {"fiscal_year": fiscal_year, "checked": len(items), "passed": len(items) - len(failed),
                "failed": failed}

    # -- transfer (移交) and appraisal ------------------------------------------------
    def transfer(self, fiscal_year: int, *, transferred_by: str) -> tuple[bytes, int]:
        """A year's items as a transfer package with its 移交清册 (transfer list)."""
        org = self.db.get(Organisation, self.org_id)
        items = self.db.execute(select(ArchiveItem).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.fiscal_year == fiscal_year,
            ArchiveItem.withdrawn_at.is_(None)).order_by(ArchiveItem.archival_code)).scalars().all()
        parts = []
        for item in items:
            v = item.voucher
            parts.append(TransferItem(row={
                "archival_code": item.archival_code, "title": f"{v.claim.title}（{v.display_number}）",
                "date": v.date.isoformat(), "fiscal_year": item.fiscal_year, "period": item.period,
                "retention": item.retention, "retention_until": _s(item.retention_until),
                "file_count": len(item.manifest), "byte_count": sum(int(m["size"]) for m in item.manifest),
                "package_sha256": item.package_sha256, "package_sm3": item.package_sm3,
            }, package=self.store.get(item.package_key)))
        data = build_transfer(parts, fonds_code=org.fonds_code, org_name=org.name, fiscal_year=fiscal_year,
                              created=utcnow(), transferred_by=transferred_by)
        self.audit.record("archive.transferred", "fonds", org.fonds_code, fiscal_year=fiscal_year,
                          items=len(parts), sha256=sha256_hex(data))
        return data, len(parts)

    def appraisal(self, as_of: dt.date) -> list[ArchiveItem]:
        """Items whose retention period has ended by as_of: candidates for appraisal
        (鉴定); never destroyed here, and never while tied to unsettled matters."""
        return list(self.db.execute(select(ArchiveItem).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.retention_until.is_not(None),
            ArchiveItem.retention_until < as_of, ArchiveItem.withdrawn_at.is_(None))
            .order_by(ArchiveItem.retention_until, ArchiveItem.archival_code)).scalars())

    def withdraw(self, item_id: int, reason: str) -> ArchiveItem:
        """Remove the archived mark (an explicit, logged archivist action) so that the
        voucher can be archived again; the item and its package stay as they were."""
        item = self.get(item_id)
        if item.withdrawn_at is not None:
            raise Conflict(f"档案 {item.archival_code} 的归档标记已于 {item.withdrawn_at:%Y-%m-%d} 撤销。",
                           code="already_withdrawn")
        item.withdrawn_at = utcnow()
        item.withdrawn_by = self.actor
        item.withdrawal_reason = reason
        voucher = item.voucher
        voucher.claim.status = ClaimStatus.POSTED
        for line in voucher.claim.lines:
            line.invoice.status = InvoiceStatus.POSTED
        self.audit.record("archive.withdrawn", "archive_item", item.archival_code, reason=reason)
        return item

    def _package_files(self, code: str, voucher: Voucher, claim: Claim, invoices: list[Invoice]) -> list[PackageFile]:
        files = [
            PackageFile(f"{code}-01-记账凭证.xml", voucher_xml(self.voucher_dict(voucher)), "voucher", "application/xml"),
            PackageFile(f"{code}-02-报销单.xml", claim_xml(self.claim_dict(claim)), "claim", "application/xml"),
        ]
        for n, inv in enumerate(invoices, start=1):
            original = original_bytes(self.store, inv)   # present, and still its intake SHA-256
            files.append(PackageFile(f"{code}-03-原始凭证-{n:02d}.{inv.source_format}", original, "original",
                                     EXT_MEDIA[inv.source_format]))
            report = json.dumps(inv.verification, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
            files.append(PackageFile(f"{code}-04-验签报告-{n:02d}.json", report, "verification", "application/json"))
        return files

    def _metadata(self, org: Organisation, code: ArchivalCode, voucher: Voucher, claim: Claim,
                  invoices: list[Invoice], years: int | None) -> dict[str, Any]:
        events = self.db.execute(
            select(AuditEvent).where(AuditEvent.org_id == self.org_id, (
                ((AuditEvent.object_type == "claim") & (AuditEvent.object_id == claim.number))
                | ((AuditEvent.object_type == "voucher") & (AuditEvent.object_id == str(voucher.id)))
                | ((AuditEvent.object_type == "invoice") & AuditEvent.object_id.in_([str(i.id) for i in invoices]))
            )).order_by(AuditEvent.id)
        ).scalars()
        return {
            "source_system": voucher.source_system, "org_name": org.name, "archival_code": str(code),
            "fonds": code.fonds, "fiscal_year": voucher.fiscal_year, "retention": retention_code(years),
            "class_code": code.class_code, "volume": f"{code.volume:04d}", "item": f"{code.item:04d}",
            "title": f"{claim.title}（{voucher.voucher_word}-{voucher.voucher_number}）",
            "date": voucher.date.isoformat(), "period": voucher.period, "currency": "CNY",
            "prepared_by": voucher.prepared_by, "reviewed_by": voucher.reviewed_by, "posted_by": voucher.posted_by,
            "retention_until": _s(retention_until(voucher.fiscal_year, years)),
            "signatures": [{"object": inv.number or inv.business_key, "verdict": inv.verdict,
                            "verified_at": inv.verification.get("verified_at"),
                            "verifier": inv.verification.get("verifier_version")} for inv in invoices],
            "events": [{"action": e.action, "at": e.at.isoformat(), "actor": e.actor} for e in events],
            "relations": [{"type": "原始凭证", "target": inv.business_key} for inv in invoices]
                         + [{"type": "报销单", "target": claim.number}],
        }

    @staticmethod
    def voucher_dict(v: Voucher) -> dict[str, Any]:
        return {
            "fiscal_year": v.fiscal_year, "period": v.period, "voucher_word": v.voucher_word,
            "voucher_number": v.voucher_number, "date": v.date.isoformat(), "prepared_by": v.prepared_by,
            "reviewed_by": v.reviewed_by, "posted_by": v.posted_by, "debit_total": str(v.debit_total),
            "credit_total": str(v.credit_total), "attachment_count": v.attachment_count, "red_flag": "0",
            "external_ref": v.external_ref, "source_system": v.source_system, "claim_number": v.claim.number,
            "entries": [{"line_no": e.line_no, "summary": e.summary, "account_code": e.account_code,
                         "account_name": e.account_name, "debit": str(e.debit), "credit": str(e.credit)}
                        for e in v.entries],
        }

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
