"""Every scene uploaded through the API: who, what, how large, when (`asset_uploads`).

Any logged-in account may upload, and accounts cost nothing to make: the API holds each to a
daily budget of bytes (`api_upload_bytes_per_day`), counted from this table, which also says
which pins no job ever used.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "asset_uploads",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("address", sa.String(66), nullable=False, comment="the uploading account"),
        sa.Column("cid", sa.String(62), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False, comment="bytes, as IPFS counts them"),
        sa.Column(
            "uploaded_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        comment="scenes uploaded through POST /api/v1/assets, for each account's daily budget",
    )
    op.create_index("asset_uploads_by_account", "asset_uploads", ["address", "uploaded_at"])


def downgrade() -> None:
    op.drop_table("asset_uploads")
