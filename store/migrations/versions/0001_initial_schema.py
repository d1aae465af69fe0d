"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 21:01:14.589858
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_prefix'), ['prefix'], unique=False)

    op.create_table('jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('model_versions',
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('backend', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('card', sa.JSON(), nullable=False),
    sa.Column('comparison', sa.JSON(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('activated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('version')
    )
    op.create_table('rollup_dirty_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('day')
    )
    op.create_table('rollup_feedback_daily',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grain', sa.String(length=8), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('gday', sa.Integer(), nullable=False),
    sa.Column('jday', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=True),
    sa.Column('segment', sa.String(length=100), nullable=True),
    sa.Column('channel', sa.String(length=100), nullable=True),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('n_analyzed', sa.Integer(), nullable=False),
    sa.Column('pos', sa.Integer(), nullable=False),
    sa.Column('neu', sa.Integer(), nullable=False),
    sa.Column('neg', sa.Integer(), nullable=False),
    sa.Column('abstained', sa.Integer(), nullable=False),
    sa.Column('complaints', sa.Integer(), nullable=False),
    sa.Column('n_rated', sa.Integer(), nullable=False),
    sa.Column('top2', sa.Integer(), nullable=False),
    sa.Column('rating_sum', sa.Float(), nullable=False),
    sa.Column('rating_sq_sum', sa.Float(), nullable=False),
    sa.Column('n_nps', sa.Integer(), nullable=False),
    sa.Column('promoters', sa.Integer(), nullable=False),
    sa.Column('detractors', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rollup_feedback_daily', schema=None) as batch_op:
        batch_op.create_index('ix_rollup_feedback_grain_day', ['grain', 'day'], unique=False)

    op.create_table('rollup_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('max_feedback_id', sa.Integer(), nullable=False),
    sa.Column('max_analyzed_at', sa.DateTime(), nullable=True),
    sa.Column('refreshed_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('rollup_topic_daily',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grain', sa.String(length=8), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('gday', sa.Integer(), nullable=False),
    sa.Column('jday', sa.Integer(), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=True),
    sa.Column('segment', sa.String(length=100), nullable=True),
    sa.Column('channel', sa.String(length=100), nullable=True),
    sa.Column('pos', sa.Integer(), nullable=False),
    sa.Column('neu', sa.Integer(), nullable=False),
    sa.Column('neg', sa.Integer(), nullable=False),
    sa.Column('neg_rec_pos', sa.Integer(), nullable=False),
    sa.Column('neg_rec_neu', sa.Integer(), nullable=False),
    sa.Column('neg_rec_neg', sa.Integer(), nullable=False),
    sa.Column('neg_rated', sa.Integer(), nullable=False),
    sa.Column('neg_top2', sa.Integer(), nullable=False),
    sa.Column('neg_rating_sum', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rollup_topic_daily', schema=None) as batch_op:
        batch_op.create_index('ix_rollup_topic_grain_day', ['grain', 'day'], unique=False)

    op.create_table('taxonomy_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('author', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('version')
    )
    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('payload_hash', sa.String(length=64), nullable=False),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=100), nullable=True),
    sa.Column('segment', sa.String(length=100), nullable=True),
    sa.Column('product', sa.String(length=200), nullable=True),
    sa.Column('region', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('jalali_day', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('raw_text', sa.Text(), nullable=True),
    sa.Column('pii_types', sa.JSON(), nullable=False),
    sa.Column('rating', sa.Float(), nullable=True),
    sa.Column('rating_scale', sa.Integer(), nullable=True),
    sa.Column('nps', sa.Integer(), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('sentiment', sa.String(length=3), nullable=True),
    sa.Column('sentiment_neg', sa.Float(), nullable=True),
    sa.Column('sentiment_neu', sa.Float(), nullable=True),
    sa.Column('sentiment_pos', sa.Float(), nullable=True),
    sa.Column('abstained', sa.Boolean(), nullable=True),
    sa.Column('model_version', sa.String(length=64), nullable=True),
    sa.Column('analysis', sa.JSON(), nullable=True),
    sa.Column('analyzed_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=True),
    sa.Column('status_at', sa.DateTime(), nullable=True),
    sa.Column('priority', sa.String(length=10), nullable=True),
    sa.Column('priority_reasons', sa.JSON(), nullable=True),
    sa.Column('recurrence', sa.String(length=10), nullable=True),
    sa.Column('related_ids', sa.JSON(), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('reopen_count', sa.Integer(), nullable=False),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.Column('handling_rating', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('external_id')
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index('ix_feedback_abstained_day', ['abstained', 'day'], unique=False)
        batch_op.create_index('ix_feedback_analyzed_at', ['analyzed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_api_key_id'), ['api_key_id'], unique=False)
        batch_op.create_index('ix_feedback_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_feedback_day_segment', ['day', 'segment'], unique=False)
        batch_op.create_index('ix_feedback_jalali_day', ['jalali_day'], unique=False)
        batch_op.create_index('ix_feedback_kind_day', ['kind', 'day'], unique=False)
        batch_op.create_index('ix_feedback_sentiment', ['sentiment'], unique=False)
        batch_op.create_index('ix_feedback_status', ['status'], unique=False)

    op.create_table('gold_labels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('feedback_id', sa.Integer(), nullable=False),
    sa.Column('sentiment', sa.String(length=3), nullable=True),
    sa.Column('topics', sa.JSON(), nullable=False),
    sa.Column('author', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['feedback_id'], ['feedback.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('gold_labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gold_labels_feedback_id'), ['feedback_id'], unique=False)

    op.create_table('status_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('feedback_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['feedback_id'], ['feedback.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('status_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_status_events_feedback_id'), ['feedback_id'], unique=False)

    op.create_table('topic_mentions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('feedback_id', sa.Integer(), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('polarity', sa.String(length=3), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('jalali_day', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('segment', sa.String(length=100), nullable=True),
    sa.Column('channel', sa.String(length=100), nullable=True),
    sa.Column('product', sa.String(length=200), nullable=True),
    sa.Column('region', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['feedback_id'], ['feedback.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('topic_mentions', schema=None) as batch_op:
        batch_op.create_index('ix_topic_mentions_day_segment', ['day', 'segment'], unique=False)
        batch_op.create_index('ix_topic_mentions_feedback', ['feedback_id'], unique=False)
        batch_op.create_index('ix_topic_mentions_topic_day', ['topic', 'day'], unique=False)
        batch_op.create_index('ix_topic_mentions_topic_polarity_day', ['topic', 'polarity', 'day'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('topic_mentions', schema=None) as batch_op:
        batch_op.drop_index('ix_topic_mentions_topic_polarity_day')
        batch_op.drop_index('ix_topic_mentions_topic_day')
        batch_op.drop_index('ix_topic_mentions_feedback')
        batch_op.drop_index('ix_topic_mentions_day_segment')

    op.drop_table('topic_mentions')
    with op.batch_alter_table('status_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_status_events_feedback_id'))

    op.drop_table('status_events')
    with op.batch_alter_table('gold_labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gold_labels_feedback_id'))

    op.drop_table('gold_labels')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_feedback_status')
        batch_op.drop_index('ix_feedback_sentiment')
        batch_op.drop_index('ix_feedback_kind_day')
        batch_op.drop_index('ix_feedback_jalali_day')
        batch_op.drop_index('ix_feedback_day_segment')
        batch_op.drop_index('ix_feedback_created_at')
        batch_op.drop_index(batch_op.f('ix_feedback_api_key_id'))
        batch_op.drop_index('ix_feedback_analyzed_at')
        batch_op.drop_index('ix_feedback_abstained_day')

    op.drop_table('feedback')
    op.drop_table('taxonomy_versions')
    with op.batch_alter_table('rollup_topic_daily', schema=None) as batch_op:
        batch_op.drop_index('ix_rollup_topic_grain_day')

    op.drop_table('rollup_topic_daily')
    op.drop_table('rollup_state')
    with op.batch_alter_table('rollup_feedback_daily', schema=None) as batch_op:
        batch_op.drop_index('ix_rollup_feedback_grain_day')

    op.drop_table('rollup_feedback_daily')
    op.drop_table('rollup_dirty_days')
    op.drop_table('model_versions')
    op.drop_table('jobs')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_prefix'))

    op.drop_table('api_keys')
