"""people: tokens belong to a person; claims and sign-offs name people, not strings

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 19:00:00

Segregation of duties compared the free-text names on tokens, so "Finance-A001"
and "finance-A001 " were two people. A person (or system account) now exists
once per organisation under a normalised name key (NFKC, spaces collapsed,
case folded: models/org.py name_key); every token belongs to one, may expire,
and records when it was last used; a claim records its claimant and each
sign-off its signer as a person. Existing tokens, claimants and signers are
backfilled by name key.
"""
from __future__ import annotations

import datetime as dt
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).split()).casefold()


def upgrade() -> None:
    op.create_table(
        'people',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('name_key', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('person','system')", name=op.f('ck_people_kind_known')),
        sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_people_org_id_organisations')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_people')),
        sa.UniqueConstraint('org_id', 'name_key', name='uq_people_org_id_name_key'),
    )
    op.create_index(op.f('ix_people_org_id'), 'people', ['org_id'], unique=False)
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimant_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('claim_signoffs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))

    conn = op.get_bind()
    people: dict[tuple[int, str], int] = {}
    now = dt.datetime.now(dt.timezone.utc)
    if conn.dialect.name == "sqlite":   # stored naive in UTC, as models' UTCDateTime does
        now = now.replace(tzinfo=None)

    def person(org_id: int, name: str, kind: str = "person") -> int:
        key = (org_id, _key(name))
        if key not in people:
            conn.execute(sa.text("INSERT INTO people (org_id, name, name_key, kind, created_at) "
                                 "VALUES (:o, :n, :k, :kind, :at)"),
                         {"o": org_id, "n": name.strip(), "k": key[1], "kind": kind, "at": now})
            people[key] = conn.execute(sa.text("SELECT id FROM people WHERE org_id = :o AND name_key = :k"),
                                       {"o": org_id, "k": key[1]}).scalar_one()
        return people[key]

    for tid, org_id, name, role in conn.execute(sa.text("SELECT id, org_id, name, role FROM api_tokens ORDER BY id")).all():
        pid = person(org_id, name, "system" if role == "accounting_system" else "person")
        conn.execute(sa.text("UPDATE api_tokens SET person_id = :p WHERE id = :t"), {"p": pid, "t": tid})
    for cid, org_id, name in conn.execute(sa.text("SELECT id, org_id, claimant FROM claims ORDER BY id")).all():
        conn.execute(sa.text("UPDATE claims SET claimant_id = :p WHERE id = :c"), {"p": person(org_id, name), "c": cid})
    for sid, org_id, name in conn.execute(sa.text(
            "SELECT s.id, c.org_id, s.actor FROM claim_signoffs s JOIN claims c ON c.id = s.claim_id ORDER BY s.id")).all():
        conn.execute(sa.text("UPDATE claim_signoffs SET person_id = :p WHERE id = :s"),
                     {"p": person(org_id, name), "s": sid})

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('person_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f('ix_api_tokens_person_id'), ['person_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_api_tokens_person_id_people'), 'people', ['person_id'], ['id'])
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_claims_claimant_id_people'), 'people', ['claimant_id'], ['id'])
    with op.batch_alter_table('claim_signoffs', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_claim_signoffs_person_id_people'), 'people', ['person_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('claim_signoffs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_claim_signoffs_person_id_people'), type_='foreignkey')
        batch_op.drop_column('person_id')
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_claims_claimant_id_people'), type_='foreignkey')
        batch_op.drop_column('claimant_id')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_tokens_person_id_people'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_api_tokens_person_id'))
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('person_id')
    op.drop_index(op.f('ix_people_org_id'), table_name='people')
    op.drop_table('people')
