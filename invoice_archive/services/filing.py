"""Filing one accounting record other than a voucher as an archive item (件) of class ZB, BG
or QT (docs/records.md): a ledger or report the accounting system exported, a bank
statement or receipt received through intake, or one of the archive's own lists.

The record's XML (and its original, or its signature) is packaged as a BagIt bag with
its DA/T 94 metadata, passes the DA/T 70 four-property check (a check not performed
blocks it unless the request carried an archivist's waiver), is written to the
write-once store and registered under the next 件号 of its class and volume, all in the
caller's transaction. A record is archived once: its key (kind:文号) is unique among
current items, and filing the same record again returns the item it already has; a
different record under the same key is refused (``record_changed``).

Killed after the store write and before the commit (kill -9), the transaction gives the
number back and leaves the package in the store. Filing again takes the same number
and finds that package: when its record is byte for byte the one being filed (an
export of the same closed period is), the package is checked in full and adopted as it
is; otherwise (a list drawn up again, with a new time) the new package is written
beside it under a key of its own, and the old one stays for ``audit-fixity`` to report
as unreferenced. 档号 stay unique and gap-free, and nothing stored is overwritten.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from invoice_archive.archive.checks import CHECKS, Waiver, check_package
from invoice_archive.archive.codes import ArchivalCode, retention_code, retention_until
from invoice_archive.archive.metadata import item_metadata_xml
from invoice_archive.archive.package import ManifestEntry, PackageFile, build_bag
from invoice_archive.archive.records import KINDS, class_code
from invoice_archive.archive.retention import CATEGORIES
from invoice_archive.db import utcnow
from invoice_archive.digests import sha256_hex, sm3_hex
from invoice_archive.errors import Conflict, Invalid, StoreUnavailable
from invoice_archive.models import ArchiveItem, Organisation
from invoice_archive.services.audit import AuditLog
from invoice_archive.services.scoping import ensure_not_destroyed, ensure_original_kept  # noqa: F401 (re-exported)
from invoice_archive.services.sequences import next_value, volume_item_numbers


def archive_access() -> dict[str, Any]:
    """权限管理: who may read the archived item, from the roles' permissions (docs/roles.md)."""
    from invoice_archive.security import ROLE_PERMISSIONS, Permissions

    names = {"auditor": "审计人员", "archivist": "档案管理员", "approver": "审批人"}
    grants = []
    for role, perms in sorted(ROLE_PERMISSIONS.items()):
        for perm, action in ((Permissions.ARCHIVE_READ, "查阅"), (Permissions.ARCHIVE_DOWNLOAD, "下载")):
            if perm in perms:
                grants.append({"to": names.get(str(role), str(role)), "action": action})
    return {"control": "内部", "grants": grants}

EXT_MEDIA = {"xml": "application/xml", "json": "application/json", "ofd": "application/ofd",
             "pdf": "application/pdf"}
#: Beijing time: accounting dates are China's (docs/records.md)
CHINA = dt.timezone(dt.timedelta(hours=8))


def china_today() -> dt.date:
    return utcnow().astimezone(CHINA).date()


@dataclass
class Attachment:
    """A file filed after the record: an original received from outside, or a signature."""

    label: str            # 原件 / 签名
    data: bytes
    ext: str              # xml / json / ofd / pdf
    role: str             # original / signature


@dataclass
class RecordDraft:
    """One record to file (pure data, built by the caller)."""

    kind: str                       # archive/records.py KINDS
    fiscal_year: int
    period: int
    document_number: str            # 文号
    title: str                      # 题名
    record_xml: bytes               # the record itself (role record)
    date: dt.date                   # 日期: the record's date, within (fiscal_year, period)
    prepared_by: str
    source_system: str
    origin: dict[str, Any]          # the first business event: record.exported / received / generated
    reviewed_by: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    relations: list[dict[str, Any]] = field(default_factory=list)
    signatures: list[dict[str, Any]] = field(default_factory=list)
    invoice_id: int | None = None

    @property
    def record_key(self) -> str:
        return f"{self.kind}:{self.document_number}"


class FourPropertyRefusal(Exception):
    """A package failed the four-property check (``codes``), or a check could not be
    performed and no archivist waived it (``blocking``): nothing is stored or registered
    (docs/archive-waivers.md). Each kind of item says so in its own words (``as_dict``)."""

    def __init__(self, what: str, report: Any) -> None:
        super().__init__(what)
        self.report = report.to_dict()
        self.codes = [c["code"] for c in self.report["checks"] if c["result"] == "fail"]
        self.blocking = list(self.report["blocking"])

    @property
    def code(self) -> str:
        return "four_property_check_failed" if self.codes else "four_property_check_not_performed"


class RecordCheckFailed(FourPropertyRefusal):
    """A record's package (ledger, report, statement, list) refused by the four-property check."""

    def __init__(self, draft: RecordDraft, report: Any) -> None:
        super().__init__(draft.document_number, report)
        self.draft = draft

    def as_dict(self) -> dict[str, Any]:
        checks = [c for c in self.report["checks"] if c["result"] == "fail" or c["code"] in self.blocking]
        if self.codes:
            message = (f"{self.draft.title}（{self.draft.document_number}）未通过四性检测，未归档："
                       + "；".join(f"{c['code']} {c['detail']}" for c in checks if c["result"] == "fail"))
        else:
            message = (f"{self.draft.title}（{self.draft.document_number}）的四性检测项 {'、'.join(self.blocking)} "
                       f"未能执行，未登记归档。请使检测能够执行（如配置病毒扫描程序）后重新归档；确需先行归档的，由档案员"
                       f"在请求中登记豁免及理由（waive: {{checks, reason}}）。")
        return {"kind": self.draft.kind, "document_number": self.draft.document_number, "code": self.code,
                "codes": self.codes or self.blocking, "not_performed": self.blocking, "message": message,
                "checks": checks}

    def error(self) -> Conflict:
        detail = self.as_dict()
        return Conflict(detail["message"], code=self.code, detail=detail)


def item_title(item: ArchiveItem) -> str:
    """An item's 题名 for the lists: a record's own, a voucher's number."""
    if item.title:
        return item.title
    v = item.voucher
    return f"记账凭证 {v.display_number}" if v is not None else item.archival_code


def waivers_from(body: Mapping[str, Any] | None, actor: str) -> list[Waiver]:
    """An archivist's waiver given with a request (``waive: {checks: [...], reason}``) for
    checks that cannot be performed here (docs/archive-waivers.md)."""
    if not body:
        return []
    codes = list(dict.fromkeys(str(c).strip().upper() for c in body.get("checks") or ()))
    reason = str(body.get("reason") or "").strip()
    unknown = [c for c in codes if c not in CHECKS]
    if not codes or unknown:
        raise Invalid(f"没有可豁免的检测项：{'、'.join(unknown) or '（未给出）'}。", code="waiver_check_unknown",
                      detail={"unknown": unknown})
    if not reason:
        raise Invalid("请填写豁免理由。", code="waiver_reason_required")
    at = utcnow().isoformat()
    return [Waiver(code=c, reason=reason, waived_by=actor, waived_at=at) for c in codes]


class Filing:
    """Files records for one organisation, in the caller's transaction."""

    def __init__(self, db: Session, store: Any, audit: AuditLog, *, org_id: int, actor: str,
                 retention: Mapping[str, int | None], scanner: Any = None) -> None:
        self.db = db
        self.store = store
        self.audit = audit
        self.org_id = org_id
        self.actor = actor
        self.retention = retention
        self.scanner = scanner

    @classmethod
    def for_request(cls, request: Any) -> Filing:
        from invoice_archive.ports import IArchiveStore

        ident = request.identity
        archive = request.registry.app_settings.archive
        return cls(request.db, request.find_service(IArchiveStore), AuditLog.for_request(request),
                   org_id=ident.org_id, actor=ident.name, retention=archive.retention,
                   scanner=request.registry["archive.scanner"])

    # -- reading ------------------------------------------------------------------------------
    def current(self, record_key: str) -> ArchiveItem | None:
        return self.db.execute(select(ArchiveItem).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.record_key == record_key,
            ArchiveItem.withdrawn_at.is_(None))).scalar_one_or_none()

    def same_record(self, item: ArchiveItem, draft: RecordDraft) -> bool:
        """Whether ``item`` holds this very record (its record file's digest)."""
        digest = sha256_hex(draft.record_xml)
        return any(m.get("role") == "record" and m.get("sha256") == digest for m in item.manifest or ())

    # -- filing ---------------------------------------------------------------------------------
    def file(self, draft: RecordDraft, waivers: Iterable[Waiver] = ()) -> tuple[ArchiveItem, bool]:
        """The record's item, and whether this call archived it (False: it already was)."""
        kind = KINDS[draft.kind]
        existing = self.current(draft.record_key)
        if existing is not None:
            if self.same_record(existing, draft):
                return existing, False
            raise Conflict(f"{draft.title}（{draft.document_number}）已归档为 {existing.archival_code}，此次的内容与已归档的"
                           f"不同。已归档的档案不能改写：如确需重新归档，请先撤销原件的归档标记（withdraw）并说明理由。",
                           code="record_changed", detail={"archival_code": existing.archival_code,
                                                          "document_number": draft.document_number})
        org = self.db.get(Organisation, self.org_id)
        years = self.retention[kind.category]
        retention = retention_code(years)
        cls_code = class_code(draft.kind, draft.fiscal_year, retention)
        volume = draft.period
        item_no = next_value(self.db, self.org_id, f"archive:{cls_code}:{volume:04d}")
        # the counter's lock serialises the volume's filers: another may have filed this record meanwhile
        existing = self.current(draft.record_key)
        if existing is not None and self.same_record(existing, draft):
            raise _FiledMeanwhile(existing)
        code = ArchivalCode(org.fonds_code, cls_code, volume, item_no)
        base = f"packages/{org.fonds_code}/{draft.fiscal_year}/{code}.zip"
        keys = [base, f"packages/{org.fonds_code}/{draft.fiscal_year}/retry-{sha256_hex(draft.record_xml)[:12]}/"
                      f"{code}.zip"]
        waivers = list(waivers)
        for key in keys:
            if self.store.exists(key):
                adopted = self._adopt(draft, code, key, years, waivers)
                if adopted is not None:
                    return adopted, True
                continue     # an interrupted attempt's different package: file beside it
            return self._new(org, draft, code, key, years, waivers), True
        raise Conflict(f"档号 {code} 的归档包已在归档存储中，且与本次归档的内容不一致，不能登记也不能覆盖。请档案管理员核查"
                       f"（invoice-archive audit-fixity 会列出存储中未登记的对象）。",
                       code="archive_store_conflict", detail={"archival_code": str(code)})

    def _files(self, code: ArchivalCode, draft: RecordDraft) -> list[PackageFile]:
        files = [PackageFile(f"{code}-01-{KINDS[draft.kind].name}.xml", draft.record_xml, "record", EXT_MEDIA["xml"])]
        for n, att in enumerate(draft.attachments, start=2):
            files.append(PackageFile(f"{code}-{n:02d}-{att.label}.{att.ext}", att.data, att.role, EXT_MEDIA[att.ext]))
        return files

    def _metadata(self, org: Organisation, draft: RecordDraft, code: ArchivalCode, years: int | None,
                  key: str) -> dict[str, Any]:
        kind = KINDS[draft.kind]
        return {
            "source_system": draft.source_system, "org_name": " ".join(org.name.split()), "archival_code": str(code),
            "fonds": code.fonds, "fiscal_year": draft.fiscal_year, "retention": retention_code(years),
            "class_code": code.class_code, "volume": f"{code.volume:04d}", "item": f"{code.item:04d}",
            "title": draft.title, "date": draft.date.isoformat(), "period": draft.period, "currency": "CNY",
            "prepared_by": draft.prepared_by, "reviewed_by": draft.reviewed_by or "", "posted_by": "",
            "retention_until": retention_until(draft.fiscal_year, years).isoformat() if years is not None else None,
            "signatures": draft.signatures,
            "events": sorted([draft.origin, *draft.events], key=lambda e: e["at"]),
            "relations": draft.relations,
            "category": {"key": kind.category, "name": CATEGORIES[kind.category].name},
            "storage_location": key,
            # DA/T 94's 编制日期 / 审核日期 and 权限管理 as for a voucher's item; a ledger, report
            # or list has no invoice, so its 税务查验 is present and empty (docs/metadata.md)
            "prepared_on": draft.date.isoformat(), "reviewed_on": draft.date.isoformat() if draft.reviewed_by else "",
            "access": archive_access(), "tax_checks": [],
        }

    def _expected(self, code: ArchivalCode, manifest: list[dict], bag: bytes, draft: RecordDraft,
                  key: str) -> dict[str, Any]:
        known = set(self.db.execute(select(ArchiveItem.archival_code).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.archival_code == str(code))).scalars())
        numbers = volume_item_numbers(self.db, self.org_id, code.class_code, code.volume)
        taken = set(self.db.execute(select(ArchiveItem.document_number).where(
            ArchiveItem.org_id == self.org_id, ArchiveItem.record_key == draft.record_key,
            ArchiveItem.withdrawn_at.is_(None))).scalars())
        return {"archival_code": str(code), "files": manifest, "file_count": len(manifest),
                "byte_count": sum(int(m["size"]) for m in manifest), "package_sha256": sha256_hex(bag),
                "package_sm3": sm3_hex(bag), "known_codes": known, "sequence": [*numbers, code.item],
                "item_count": 1, "document_number": draft.document_number, "known_document_numbers": taken,
                "scope": {"fiscal_year": draft.fiscal_year, "period": draft.period}, "package_key": key}

    def _new(self, org: Organisation, draft: RecordDraft, code: ArchivalCode, key: str, years: int | None,
             waivers: list[Waiver]) -> ArchiveItem:
        now = utcnow()
        files = self._files(code, draft)
        described = [ManifestEntry(path=f"data/{f.name}", role=f.role, media_type=f.media_type, size=len(f.data),
                                   sha256=sha256_hex(f.data), sm3=sm3_hex(f.data)).as_dict() for f in files]
        files.append(PackageFile(f"{code}-metadata.xml",
                                 item_metadata_xml(self._metadata(org, draft, code, years, key), described),
                                 "metadata", "application/xml"))
        bag, manifest = build_bag(str(code), files, {
            "Source-Organization": org.name, "External-Identifier": str(code),
            "External-Description": f"{draft.title}（{draft.document_number}）",
            "Bag-Group-Identifier": code.class_code}, now)
        manifest_dicts = [m.as_dict() for m in manifest]
        report = check_package(bag, self._expected(code, manifest_dicts, bag, draft, key), scanner=self.scanner,
                               waivers=waivers)
        if not report.registrable:
            raise RecordCheckFailed(draft, report)
        try:
            self.store.put(key, bag)
        except OSError as exc:
            raise StoreUnavailable(f"归档存储不可用：{exc}", code="store_unavailable", status=503) from exc
        return self._register(draft, code, key, bag, manifest_dicts, report, years, now=now)

    def _adopt(self, draft: RecordDraft, code: ArchivalCode, key: str, years: int | None,
               waivers: list[Waiver]) -> ArchiveItem | None:
        """Register the package an interrupted attempt stored under ``key`` when it holds
        this very record (and its attachments); None when it holds something else."""
        from invoice_archive.archive.checks import package_contents

        data = self.store.get(key)
        contents = package_contents(data)
        if contents.problem or contents.archival_code != str(code):
            return None
        by_role: dict[str, list[bytes]] = {}
        for f in contents.files:
            by_role.setdefault(f["role"], []).append(contents.payload.get(f["path"], b""))
        if by_role.get("record") != [draft.record_xml]:
            return None
        if [sha256_hex(b) for b in by_role.get("original", [])] != [sha256_hex(a.data) for a in draft.attachments
                                                                     if a.role == "original"]:
            return None
        metadata_path = f"data/{code}-metadata.xml"
        meta = contents.payload.get(metadata_path)
        if meta is None:
            return None
        manifest = [{**f, "size": int(f["size"])} for f in contents.files] + [
            ManifestEntry(path=metadata_path, role="metadata", media_type="application/xml", size=len(meta),
                          sha256=sha256_hex(meta), sm3=sm3_hex(meta)).as_dict()]
        report = check_package(data, self._expected(code, manifest, data, draft, key), scanner=self.scanner,
                               waivers=waivers)
        if not report.registrable:
            raise RecordCheckFailed(draft, report)
        return self._register(draft, code, key, data, manifest, report, years, adopted=True)

    def _register(self, draft: RecordDraft, code: ArchivalCode, key: str, bag: bytes, manifest: list[dict],
                  report: Any, years: int | None, *, now: dt.datetime | None = None,
                  adopted: bool = False) -> ArchiveItem:
        kind = KINDS[draft.kind]
        sha = sha256_hex(bag)
        item = ArchiveItem(
            org_id=self.org_id, voucher_id=None, category=kind.category, record_kind=draft.kind,
            record_key=draft.record_key, document_number=draft.document_number, title=draft.title,
            invoice_id=draft.invoice_id, archival_code=str(code), fonds_code=code.fonds, class_code=code.class_code,
            volume_no=code.volume, item_no=code.item, fiscal_year=draft.fiscal_year, period=draft.period,
            retention=retention_code(years), retention_until=retention_until(draft.fiscal_year, years),
            package_key=key, package_sha256=sha, package_sm3=sm3_hex(bag), package_size=len(bag),
            manifest=manifest, archived_at=now or utcnow(), archived_by=self.actor, checks=report.to_dict())
        try:
            with self.db.begin_nested():
                self.db.add(item)
        except IntegrityError:
            raise Conflict(f"{draft.title}（{draft.document_number}）正在或已经归档，不能重复归档。",
                           code="already_archived") from None
        summary = report.to_dict()
        self.audit.record("archive.archived", "archive_item", str(code), record_kind=draft.kind,
                          category=kind.category, document_number=draft.document_number, package_sha256=sha,
                          files=len(manifest), adopted_from_interrupted_run=adopted,
                          checks_not_performed=summary["not_performed"], waivers=summary["waivers"])
        return item


class _FiledMeanwhile(Exception):
    def __init__(self, item: ArchiveItem) -> None:
        super().__init__(item.archival_code)
        self.item = item


def file_once(filing: Filing, draft: RecordDraft, waivers: Iterable[Waiver] = ()) -> tuple[ArchiveItem, bool]:
    """:meth:`Filing.file` in a savepoint: a record whose check fails gives its number back
    (RecordCheckFailed propagates); one filed by a concurrent request meanwhile is returned."""
    try:
        with filing.db.begin_nested():
            return filing.file(draft, waivers)
    except _FiledMeanwhile as exc:
        return exc.item, False


__all__ = ["Attachment", "CHINA", "Filing", "RecordCheckFailed", "RecordDraft", "china_today", "file_once",
           "ensure_not_destroyed", "ensure_original_kept", "item_title", "waivers_from"]
