"""Uploads no job used are unpinned after a grace period (`asset_uploads.unpinned_at`).

Any account may upload its daily budget of scenes and never post a job for them: the
uploads sweep (veriframe_dagster/defs/uploads) unpins those from the platform's node and
marks them here, so each is tried once and operators see what went. The partial index holds
the uploads still pinned, all the sweep reads.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "asset_uploads",
        sa.Column(
            "unpinned_at",
            sa.DateTime(timezone=True),
            comment="when the uploads sweep unpinned it, no job having used it; NULL: pinned",
        ),
    )
    op.create_index(
        "asset_uploads_pinned",
        "asset_uploads",
        ["cid", "uploaded_at"],
        postgresql_where=sa.text("unpinned_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("asset_uploads_pinned", "asset_uploads")
    op.drop_column("asset_uploads", "unpinned_at")
