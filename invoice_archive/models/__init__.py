"""The domain model. Importing this package registers every table on Base.metadata."""
from invoice_archive.db import Base
from invoice_archive.models.archive import ArchiveCheckWaiver, ArchiveItem
from invoice_archive.models.disposition import (
    Appraisal, AppraisalEntry, ArchiveHold, ArchiveTombstone, DestroyedObject, Destruction, DestructionApproval,
    DestructionEntry, DestructionStatus, Transfer, TransferEntry, TransferSignoff, TransferStatus, TRANSFER_ROLES,
)
from invoice_archive.models.audit import AuditChainHead, AuditCheckpoint, AuditEvent
from invoice_archive.models.compliance import Alert, TaxCheck
from invoice_archive.models.claim import Claim, ClaimInvoice, ClaimSignoff, ClaimStatus
from invoice_archive.models.invoice import Invoice, InvoiceStatus
from invoice_archive.models.org import ApiToken, Organisation, Person, Role, Sequence, WebSession, name_key
from invoice_archive.models.outbox import OutboxMessage, OutboxStatus, SyncState
from invoice_archive.models.voucher import InvoiceVoucherLink, Voucher, VoucherEntry

__all__ = [
    "Appraisal", "AppraisalEntry", "ArchiveHold", "ArchiveTombstone", "DestroyedObject", "Destruction",
    "DestructionApproval", "DestructionEntry", "DestructionStatus", "TRANSFER_ROLES", "Transfer", "TransferEntry",
    "TransferSignoff", "TransferStatus",
    "Alert", "AuditChainHead", "AuditCheckpoint", "TaxCheck",
    "ApiToken", "ArchiveCheckWaiver", "Person", "WebSession", "name_key", "ArchiveItem", "AuditEvent", "Base", "Claim", "ClaimInvoice", "ClaimSignoff",
    "ClaimStatus", "Invoice", "InvoiceStatus", "InvoiceVoucherLink", "Organisation", "OutboxMessage",
    "OutboxStatus", "Role", "Sequence", "SyncState", "Voucher", "VoucherEntry",
]
