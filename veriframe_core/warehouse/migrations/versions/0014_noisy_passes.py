"""A denoised delivery's noisy pass: `verifications.noisy_cid`.

A denoiser hides what a render cost, so with a denoised frame the worker delivers the render
before the denoiser (`render_executor.passes`), off chain: the verifier judges it beside the
frame. Null for frames without a denoiser and for results found on chain.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "verifications",
        sa.Column(
            "noisy_cid",
            sa.String(62),
            comment="a denoised delivery's noisy pass (OpenEXR): what shows the render's cost",
        ),
    )


def downgrade() -> None:
    op.drop_column("verifications", "noisy_cid")
