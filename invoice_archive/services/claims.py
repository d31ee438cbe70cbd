"""Reimbursement claims (报销单): create over received invoices, then 经办 → 审核 → 审批, or 退回."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from invoice_archive.db import utcnow
from invoice_archive.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from invoice_archive.models import (
    Claim, ClaimInvoice, ClaimSignoff, ClaimStatus, Invoice, InvoiceStatus, Organisation, Voucher, name_key,
)
from invoice_archive.formats import read_invoice
from invoice_archive.ports import IArchiveStore
from invoice_archive.services.audit import AuditLog
from invoice_archive.services.compliance import CompliancePolicy, open_alerts, reversing_red_invoice, rules_report
from invoice_archive.services.intake import duplicate_evidence
from invoice_archive.services.posting import enqueue_posting, latest_posting_message, retry_stuck
from invoice_archive.services.scoping import MAX_ID, scoped_get
from invoice_archive.services.sequences import next_value

# signature verdicts that are never reimbursable, whatever the policy
NOT_AUTHENTIC = {"tampered", "invalid"}
# verdicts that prove nothing by themselves (数电票 from the national platform are unsigned
# by design): 财会〔2020〕6号 asks for legality and authenticity to be checked, so, with
# verification.unsigned_requires_tax_check (the default), only the tax platform's 查验
# answer "normal" makes them reimbursable (docs/tax-platform.md)
UNVERIFIABLE = frozenset({"unsigned", "present_not_verifiable"})
VERDICT_ZH = {"valid": "签名有效", "valid_with_warning": "签名有效但有警告（如根证书不受信任）",
              "unsigned": "未签名（如全国统一平台开具的数电票）", "present_not_verifiable": "有签名但无法验证",
              "tampered": "已被篡改", "invalid": "签名无效"}
TAX_STATUS_ZH = {None: "尚未查验", "unavailable": "税务平台暂无应答", "not_checkable_online": "已超出在线查验期限",
                 "normal": "正常", "voided": "已作废", "not_found": "查无此票", "red_reversed": "已红冲",
                 "mismatch": "与所交文件不一致"}

STATUS_ZH = {
    "draft": "草稿", "submitted": "已提交", "reviewed": "已审核", "approved": "已审批",
    "posting": "入账中", "posted": "已入账", "archived": "已归档", "refused": "已退回", "reversed": "已冲销",
}


class ClaimService:
    def __init__(self, db: Session, audit: AuditLog, *, org_id: int, actor: str, role: str,
                 reimbursable_verdicts: frozenset[str], push_posting: bool = False, store: Any = None,
                 policy: CompliancePolicy = CompliancePolicy(), person_id: int | None = None,
                 unsigned_requires_tax_check: bool = True) -> None:
        self.unsigned_requires_tax_check = unsigned_requires_tax_check
        self.person_id = person_id   # who acts: segregation of duties compares people
        self.db = db
        self.store = store
        self.policy = policy
        self.push_posting = push_posting
        self.audit = audit
        self.org_id = org_id
        self.actor = actor
        self.role = role
        self.reimbursable_verdicts = reimbursable_verdicts

    @classmethod
    def factory(cls, context: Any, request: Any) -> ClaimService:
        settings = request.registry.app_settings
        ident = request.identity
        return cls(request.db, AuditLog.for_request(request), org_id=ident.org_id, actor=ident.name,
                   person_id=ident.person_id, role=ident.role, reimbursable_verdicts=settings.verification.reimbursable_verdicts,
                   push_posting=bool(settings.accounting.backend), store=request.find_service(IArchiveStore),
                   policy=request.registry["compliance.policy"],
                   unsigned_requires_tax_check=settings.verification.reimbursement.unsigned_requires_tax_check)

    def get(self, claim_id: int, *, for_update: bool = False) -> Claim:
        """The claim, within the organisation. ``for_update`` locks its row and
        reloads it (the identity map may hold a copy read before the lock was
        taken): every state change decides on the locked row."""
        return scoped_get(self.db, Claim, claim_id, self.org_id, for_update=for_update)

    def related(self, claim: Claim) -> dict[str, Any]:
        """What a claim's rendering shows beside the row: its (blue) voucher, its
        newest posting message and its open alerts."""
        return {
            "voucher": self.db.execute(select(Voucher).where(
                Voucher.claim_id == claim.id, Voucher.reverses_id.is_(None))).scalar_one_or_none(),
            "posting": latest_posting_message(self.db, claim.id),
            "alerts": open_alerts(self.db, claim_id=claim.id),
        }

    def _check_reimbursable(self, inv: Invoice, category: str) -> None:
        label = inv.number or inv.business_key
        if inv.is_red:
            raise Invalid(f"发票 {label} 是红字发票（冲销发票），不能作为费用报销。",
                          code="red_invoice_not_claimable", detail={"invoice_id": inv.id})
        red = reversing_red_invoice(self.db, inv)
        if red is not None or inv.tax_status == "red_reversed":
            by = f"红字发票 {red.number}" if red is not None else "税务平台查验结果"
            raise Invalid(f"发票 {label} 已被冲红（{by}），不能报销。", code="invoice_red_reversed",
                          detail={"invoice_id": inv.id, "red_invoice_id": red.id if red else None})
        refusals = {
            "voided": ("invoice_voided", f"税务平台查验结果：发票 {label} 已作废，不能报销。"),
            "not_found": ("invoice_not_on_platform", f"税务平台查无发票 {label}，可能是伪造或信息有误，不能报销。"),
            "mismatch": ("tax_check_mismatch", f"税务平台登记的发票 {label} 信息与所交文件不一致，文件可能被改动，不能报销。"),
        }
        if inv.tax_status in refusals:
            code, message = refusals[inv.tax_status]
            raise Invalid(message, code=code, detail={"invoice_id": inv.id, "tax_status": inv.tax_status})
        if inv.total is None and inv.kind not in ("bank_receipt", "bank_statement"):
            raise Invalid(f"发票 {label} 的价税合计无法读取，不能报销。请向开票方索取完整、正确的发票文件。",
                          code="invoice_total_missing", detail={"invoice_id": inv.id})
        if inv.verdict in NOT_AUTHENTIC:
            failing = [c for c in inv.verification.get("checks", []) if c.get("result") == "fail"]
            raise Invalid(f"发票 {label} 电子签名校验未通过（{inv.verdict}），不能报销。",
                          code="invoice_not_authentic",
                          detail={"invoice_id": inv.id, "verdict": inv.verdict, "failing_checks": failing})
        self._check_tax_answer(inv)
        self._check_rules(inv, category)

    def needs_tax_check(self, inv: Invoice) -> bool:
        """Whether the invoice is reimbursable only after the tax platform's 查验 said
        "normal": its verdict is not among verification.reimbursable_verdicts, or it
        proves nothing by itself (unsigned, not verifiable) and
        verification.unsigned_requires_tax_check is on."""
        return inv.verdict not in self.reimbursable_verdicts or (
            self.unsigned_requires_tax_check and inv.verdict in UNVERIFIABLE)

    def _check_tax_answer(self, inv: Invoice) -> None:
        if not self.needs_tax_check(inv) or inv.tax_status == "normal":
            return
        label = inv.number or inv.business_key
        verdict = VERDICT_ZH.get(inv.verdict, inv.verdict)
        answer = TAX_STATUS_ZH.get(inv.tax_status, inv.tax_status)
        raise Invalid(
            f"发票 {label} 的电子签名状态为“{verdict}”，真实性须经税务平台查验确认：当前查验结果为“{answer}”。"
            f"请先查验（POST /api/v1/invoices/{inv.id}/tax-check），查验结果为“正常”后方可报销。",
            code="tax_check_required",
            detail={"invoice_id": inv.id, "verdict": inv.verdict, "tax_status": inv.tax_status})

    def create(self, *, title: str, expense_category: str, invoice_ids: Iterable[int]) -> Claim:
        ids = list(invoice_ids)
        storable = [i for i in ids if 0 < i <= MAX_ID]   # an id no INTEGER row can have is simply not found
        invoices = {
            inv.id: inv for inv in self.db.execute(
                select(Invoice).where(Invoice.id.in_(storable), Invoice.org_id == self.org_id).with_for_update()
            ).scalars()
        }
        missing = [i for i in ids if i not in invoices]
        if missing:
            raise NotFound(f"发票 {missing} 不存在或不属于本单位", code="invoice_not_found",
                           detail={"invoice_ids": missing})
        for inv in invoices.values():
            self._check_reimbursable(inv, expense_category)
            if inv.status != InvoiceStatus.RECEIVED:
                evidence = duplicate_evidence(self.db, inv)
                raise self._already_claimed(inv, evidence)
        year = utcnow().year
        number = f"BX-{year}-{next_value(self.db, self.org_id, f'claim:{year}'):04d}"
        total = sum((invoices[i].total or Decimal("0") for i in ids), Decimal("0.00"))
        claim = Claim(org_id=self.org_id, number=number, title=title, expense_category=expense_category,
                      claimant=self.actor, claimant_id=self.person_id, status=ClaimStatus.DRAFT, total=total)
        self.db.add(claim)
        self.db.flush()
        try:
            with self.db.begin_nested():
                for pos, inv_id in enumerate(ids, start=1):
                    self.db.add(ClaimInvoice(claim_id=claim.id, invoice_id=inv_id, position=pos))
        except IntegrityError:
            # another claim took one of these invoices at the same moment
            for inv in invoices.values():
                self.db.refresh(inv)
                evidence = duplicate_evidence(self.db, inv)
                if evidence["claim"]:
                    raise self._already_claimed(inv, evidence) from None
            raise
        for inv in invoices.values():
            inv.status = InvoiceStatus.CLAIMED
        self.audit.record("claim.created", "claim", claim.number, invoice_ids=ids, total=str(total))
        return claim

    def _check_rules(self, inv: Invoice, category: str) -> None:
        """The business rules, now with the claim's expense category, on the original
        bytes as received (the stored report was made without a category)."""
        if self.store is None:
            return
        doc = read_invoice(self.store.get(inv.storage_key))
        org = self.db.get(Organisation, self.org_id)
        report = rules_report(doc, org, self.policy, category=category)
        failures = [c for c in report["checks"] if c["result"] == "fail"]
        if failures:
            label = inv.number or inv.business_key
            reasons = "；".join(c["message"] for c in failures)
            raise Invalid(f"发票 {label} 未通过报销规则检查：{reasons}", code="rules_failed",
                          detail={"invoice_id": inv.id, "failing_rules": [c["code"] for c in failures],
                                  "checks": failures})

    @staticmethod
    def _already_claimed(inv: Invoice, evidence: dict[str, Any]) -> Conflict:
        c = evidence.get("claim")
        where = f"报销单 {c['number']}（报销人 {c['claimant']}，{c['created_at'][:10]}）" if c else f"状态 {inv.status}"
        return Conflict(f"发票 {inv.number or inv.business_key} 已在{where}中报销，不能重复报销。",
                        code="invoice_already_claimed", detail=evidence)

    def _transition(self, claim: Claim, *, allowed: set[str], to: str, step: str,
                    comment: str | None, verb: str) -> Claim:
        """Move a claim whose row this transaction has locked (``get(for_update=True)``,
        taken before its status was read): of concurrent decisions exactly one wins,
        the others wait on the lock, then find the new status and get a 409."""
        if claim.status not in allowed:
            raise Conflict(
                f"报销单 {claim.number} 当前状态为「{STATUS_ZH[claim.status]}」，不能{verb}。",
                code="claim_state_conflict", detail={"status": claim.status, "action": verb})
        claim.status = to
        self.db.add(ClaimSignoff(claim_id=claim.id, step=step, actor=self.actor, person_id=self.person_id,
                                 role=self.role, comment=comment))
        self.db.flush()
        self.audit.record(f"claim.{to}", "claim", claim.number, step=step, comment=comment)
        return claim

    def _is_me(self, person_id: int | None, name: str) -> bool:
        """Whether a recorded person is the caller: by person where both are known,
        else by normalised name (never by the raw string)."""
        if person_id is not None and self.person_id is not None:
            return person_id == self.person_id
        return name_key(name) == name_key(self.actor)

    def _signed(self, claim: Claim, step: str) -> bool:
        return any(self._is_me(s.person_id, s.actor) for s in claim.signoffs if s.step == step)

    def submit(self, claim_id: int, comment: str | None = None) -> Claim:
        claim = self.get(claim_id, for_update=True)
        if not self._is_me(claim.claimant_id, claim.claimant):
            raise Forbidden(f"报销单 {claim.number} 只能由报销人 {claim.claimant} 提交。", code="not_claimant")
        return self._transition(claim, allowed={ClaimStatus.DRAFT}, to=ClaimStatus.SUBMITTED,
                                step="经办", comment=comment, verb="提交")

    def review(self, claim_id: int, comment: str | None = None) -> Claim:
        claim = self.get(claim_id, for_update=True)
        if self._is_me(claim.claimant_id, claim.claimant):
            raise Forbidden("报销人不能审核自己的报销单（不相容职务分离）。", code="segregation_of_duties")
        return self._transition(claim, allowed={ClaimStatus.SUBMITTED}, to=ClaimStatus.REVIEWED,
                                step="审核", comment=comment, verb="审核")

    def approve(self, claim_id: int, comment: str | None = None) -> Claim:
        claim = self.get(claim_id, for_update=True)
        if self._is_me(claim.claimant_id, claim.claimant) or self._signed(claim, "审核"):
            raise Forbidden("审批人不能是报销人或审核人（不相容职务分离）。", code="segregation_of_duties")
        for line in claim.lines:
            if line.released_at is None:
                # the answer may have changed since the claim was filed: no approval, and no
                # money, without a 查验 answer of "normal" where one is required
                self._check_tax_answer(line.invoice)
        claim = self._transition(claim, allowed={ClaimStatus.REVIEWED}, to=ClaimStatus.APPROVED,
                                 step="审批", comment=comment, verb="审批")
        if self.push_posting:
            self._enqueue(claim)
        return claim

    def post(self, claim_id: int) -> Claim:
        """Hand an approved claim to the accounting system through the outbox (again,
        after the system refused it and the cause was fixed), or send again a
        message that stopped after its last attempt (same external reference, so
        the worker looks it up before posting: never a second voucher)."""
        claim = self.get(claim_id, for_update=True)
        if not self.push_posting:
            raise Conflict("未配置记账系统（accounting.backend）：凭证由记账系统录入后通过 POST /api/v1/vouchers 报告。",
                           code="posting_not_configured")
        if claim.status == ClaimStatus.POSTING:
            msg = latest_posting_message(self.db, claim.id)
            if msg is not None and retry_stuck(msg, self.audit, claim):
                return claim
            raise Conflict(f"报销单 {claim.number} 已在入账队列中（{msg.dedupe_key if msg else ''}），"
                           "请等待记账系统处理结果，不能重复提交入账。",
                           code="posting_already_queued",
                           detail={"status": claim.status, "external_ref": msg.dedupe_key if msg else None})
        if claim.status != ClaimStatus.APPROVED:
            raise Conflict(f"报销单 {claim.number} 当前状态为「{STATUS_ZH[claim.status]}」，只有已审批的报销单可以入账。",
                           code="claim_state_conflict", detail={"status": claim.status})
        self._enqueue(claim)
        return claim

    def _enqueue(self, claim: Claim) -> None:
        fonds = self.db.get(Organisation, self.org_id).fonds_code
        enqueue_posting(self.db, claim, fonds, self.audit)

    def refuse(self, claim_id: int, reason: str) -> Claim:
        claim = self._transition(self.get(claim_id, for_update=True),
                                 allowed={ClaimStatus.SUBMITTED, ClaimStatus.REVIEWED},
                                 to=ClaimStatus.REFUSED, step="退回", comment=reason, verb="退回")
        claim.refusal_reason = reason
        now = utcnow()
        for line in claim.lines:
            line.released_at = now
            line.invoice.status = InvoiceStatus.RECEIVED
        return claim


__all__ = ["ClaimService", "DomainError"]
