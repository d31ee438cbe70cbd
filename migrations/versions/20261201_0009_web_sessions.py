"""web_sessions: the auditors' sign-in keeps a server-side session, not the API token

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 19:30:00

The sign-in cookie used to hold the raw API token, and signing out only deleted
the cookie. A session row (random id, stored as its SHA-256) now ends at expiry,
at sign-out or with its token.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'web_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_hash', sa.String(length=64), nullable=False),
        sa.Column('token_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('fk_web_sessions_token_id_api_tokens')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
        sa.UniqueConstraint('session_hash', name=op.f('uq_web_sessions_session_hash')),
    )
    op.create_index(op.f('ix_web_sessions_token_id'), 'web_sessions', ['token_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_web_sessions_token_id'), table_name='web_sessions')
    op.drop_table('web_sessions')
