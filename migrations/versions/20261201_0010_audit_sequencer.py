"""audit sequencer: writers append without a lock; the chain fields are filled once; signed checkpoints

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 23:30:00

Every event used to lock its organisation's chain head for the rest of its
transaction, so all writes of one organisation were serialised. Events are now
appended with the chain fields empty and linked after commit by the sequencer
(services/audit.py). The append-only trigger on audit_events accordingly
allows exactly one change: filling chain_seq, prev_hash and hash from empty,
every other column unchanged. audit_checkpoints holds the signed checkpoints
(append-only).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

CHAIN = ("chain_seq", "prev_hash", "hash")
FROZEN = ("id", "at", "org_id", "actor", "role", "action", "object_type", "object_id", "detail")


def upgrade() -> None:
    op.create_table(
        'audit_checkpoints',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('key_id', sa.String(length=64), nullable=False),
        sa.Column('algorithm', sa.String(length=32), nullable=False),
        sa.Column('signature', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_audit_checkpoints_org_id_organisations')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_checkpoints')),
        sa.UniqueConstraint('org_id', 'seq', name='uq_audit_checkpoints_org_seq'),
    )
    op.create_index('ix_audit_events_unlinked', 'audit_events', ['org_id', 'id'], unique=False,
                    postgresql_where=sa.text('chain_seq IS NULL'), sqlite_where=sa.text('chain_seq IS NULL'))
    if op.get_bind().dialect.name == "postgresql":
        strip = " - ".join(f"'{c}'" for c in CHAIN)
        op.execute("DROP TRIGGER IF EXISTS audit_events_immutable ON audit_events")
        op.execute(f"""
            CREATE FUNCTION ia_audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE' AND OLD.chain_seq IS NULL AND NEW.chain_seq IS NOT NULL
                   AND (to_jsonb(OLD) - {strip}) = (to_jsonb(NEW) - {strip}) THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION 'table audit_events is append-only: % refused (only linking into the chain, once)', TG_OP
                    USING ERRCODE = 'integrity_constraint_violation';
            END $$""")
        op.execute("CREATE TRIGGER audit_events_guard BEFORE UPDATE OR DELETE ON audit_events "
                   "FOR EACH ROW EXECUTE FUNCTION ia_audit_events_guard()")
        op.execute("CREATE TRIGGER audit_checkpoints_immutable BEFORE UPDATE OR DELETE ON audit_checkpoints "
                   "FOR EACH ROW EXECUTE FUNCTION ia_refuse_change()")
        op.execute("CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ia_refuse_change()")
    else:
        same = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in FROZEN)
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute(f"CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
                   f"WHEN NOT (OLD.chain_seq IS NULL AND NEW.chain_seq IS NOT NULL AND {same}) "
                   f"BEGIN SELECT RAISE(ABORT, 'table audit_events is append-only: UPDATE refused "
                   f"(only linking into the chain, once)'); END")
        for event in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_checkpoints_no_{event.lower()} BEFORE {event} ON audit_checkpoints "
                       f"BEGIN SELECT RAISE(ABORT, 'table audit_checkpoints is append-only: {event} refused'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_guard ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS ia_audit_events_guard()")
        op.execute("CREATE TRIGGER audit_events_immutable BEFORE UPDATE OR DELETE ON audit_events "
                   "FOR EACH ROW EXECUTE FUNCTION ia_refuse_change()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
                   "BEGIN SELECT RAISE(ABORT, 'table audit_events is append-only: UPDATE refused'); END")
    op.drop_index('ix_audit_events_unlinked', table_name='audit_events')
    op.drop_table('audit_checkpoints')
