"""search indexes for auditors (invoice amount/status, seller name, voucher number/amount/date, claim status)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 06:00:00

On PostgreSQL the seller-name index is a pg_trgm GIN index (ILIKE '%...%'
searches); the extension is created here (pg_trgm is a trusted extension, so
the database owner may create it).  On SQLite the same index is a plain
b-tree on seller_name.
"""
from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index("ix_invoices_org_total", "invoices", ["org_id", "total"])
    op.create_index("ix_invoices_org_status_issue_date", "invoices", ["org_id", "status", "issue_date"])
    op.create_index("ix_invoices_seller_name_trgm", "invoices", ["seller_name"],
                    postgresql_using="gin", postgresql_ops={"seller_name": "gin_trgm_ops"})
    op.create_index("ix_vouchers_org_voucher_number", "vouchers", ["org_id", "voucher_number"])
    op.create_index("ix_vouchers_org_debit_total", "vouchers", ["org_id", "debit_total"])
    op.create_index("ix_vouchers_org_date", "vouchers", ["org_id", "date"])
    op.create_index("ix_claims_org_status", "claims", ["org_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_claims_org_status", table_name="claims")
    op.drop_index("ix_vouchers_org_date", table_name="vouchers")
    op.drop_index("ix_vouchers_org_debit_total", table_name="vouchers")
    op.drop_index("ix_vouchers_org_voucher_number", table_name="vouchers")
    op.drop_index("ix_invoices_seller_name_trgm", table_name="invoices")
    op.drop_index("ix_invoices_org_status_issue_date", table_name="invoices")
    op.drop_index("ix_invoices_org_total", table_name="invoices")
    # pg_trgm stays: other objects in the database may use it
