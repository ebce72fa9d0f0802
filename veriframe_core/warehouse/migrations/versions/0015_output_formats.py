"""Output format names up to 24 characters: `OPEN_EXR_MULTILAYER` (19) did not fit. WebP is
no longer offered (a verifier cannot re-code a window of it alone): jobs that asked for it
render PNG.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("job_render_settings", "output_format", type_=sa.String(24))
    op.execute("UPDATE job_render_settings SET output_format = 'PNG' WHERE output_format = 'WEBP'")


def downgrade() -> None:
    op.alter_column("job_render_settings", "output_format", type_=sa.String(16))
