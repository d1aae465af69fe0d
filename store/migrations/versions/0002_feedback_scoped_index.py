"""feedback: partial index on created_at of the records with a product or segment

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 06:45:00

One-record complaint intake asks whether a topic has members in other products/segments within the
window; on records mostly without either, the answer was a scan of the whole window per topic.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

SCOPED = "product != '' OR segment != ''"


def upgrade() -> None:
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index('ix_feedback_scoped_created_at', ['created_at'], unique=False,
                              sqlite_where=sa.text(SCOPED), postgresql_where=sa.text(SCOPED))


def downgrade() -> None:
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_feedback_scoped_created_at')
