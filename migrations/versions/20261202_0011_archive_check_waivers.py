"""archive_check_waivers: an archivist's waiver of a four-property check that could not be performed

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:00:00

A DA/T 70 check item that could not be performed (the virus scan without ClamAV)
used to be reported and the item archived anyway. It now blocks the item's
registration unless an archivist records a waiver for that check, with who,
when and why (docs/archive-waivers.md). Waivers are evidence: like the audit
log, the table refuses UPDATE and DELETE.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

TABLE = "archive_check_waivers"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('voucher_id', sa.Integer(), nullable=False),
        sa.Column('check_code', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('waived_by', sa.String(length=100), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('waived_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("check_code LIKE 'GD-%'", name=op.f('ck_archive_check_waivers_check_code_gd')),
        sa.CheckConstraint('length(trim(reason)) > 0', name=op.f('ck_archive_check_waivers_reason_given')),
        sa.ForeignKeyConstraint(['org_id'], ['organisations.id'],
                                name=op.f('fk_archive_check_waivers_org_id_organisations')),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_archive_check_waivers_person_id_people')),
        sa.ForeignKeyConstraint(['voucher_id'], ['vouchers.id'],
                                name=op.f('fk_archive_check_waivers_voucher_id_vouchers')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_archive_check_waivers')),
        sa.UniqueConstraint('voucher_id', 'check_code', name='uq_archive_check_waivers_voucher_check'),
    )
    op.create_index(op.f('ix_archive_check_waivers_org_id'), TABLE, ['org_id'], unique=False)
    # evidence, never rewritten: the function ia_refuse_change() is migration 0001's
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE TRIGGER {TABLE}_immutable BEFORE UPDATE OR DELETE ON {TABLE} "
                   f"FOR EACH ROW EXECUTE FUNCTION ia_refuse_change()")
        op.execute(f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION ia_refuse_change()")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {TABLE}_no_{event.lower()} BEFORE {event} ON {TABLE} "
                       f"BEGIN SELECT RAISE(ABORT, 'table {TABLE} is append-only: {event} refused'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_immutable ON {TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}")
    else:
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_{event}")
    op.drop_index(op.f('ix_archive_check_waivers_org_id'), table_name=TABLE)
    op.drop_table(TABLE)
