"""Configured feedback keys: the controls the viewer shows to label runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

- `feedback_keys`: one row per key (see `tracer/store/tables.py` and `tracer/feedback_keys.py`).
  Portable types only (text, float, integer, timestamps), so the same DDL serves SQLite and
  PostgreSQL. No rows are written: a store without configured keys shows the defaults.

Written by hand and frozen, like 0001 and 0002.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feedback_keys",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("min_score", sa.Float()),
        sa.Column("max_score", sa.Float()),
        sa.Column("categories", sa.Text()),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_feedback_keys"),
    )


def downgrade() -> None:
    op.drop_table("feedback_keys")
