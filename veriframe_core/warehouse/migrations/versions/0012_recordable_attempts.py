"""When an attempt has an outcome to record: `job_attempts.recordable_seq`.

The render sensor requests a `render` run only for an attempt with something to record (a
delivery; a failure that ends a round of them), never at the claim, so a claimed job holds
no run slot. It follows this column: `next_recordable_seq()` numbers attempts in the order
their outcomes commit. It takes a transaction-level advisory lock before `nextval`, so no
later number can commit before an earlier one and a reader that saw number n has seen every
number below it (a bare sequence hands numbers out in call order, not commit order). The
statements that end attempts call it in their own transaction; existing attempts keep NULL
(their runs were requested at their claims).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE job_attempts_recordable_seq")
    op.execute(
        """
        CREATE FUNCTION next_recordable_seq() RETURNS bigint LANGUAGE sql VOLATILE AS $$
            SELECT pg_advisory_xact_lock('job_attempts_recordable_seq'::regclass::oid::int, 0);
            SELECT nextval('job_attempts_recordable_seq');
        $$
        """
    )
    op.add_column(
        "job_attempts",
        sa.Column(
            "recordable_seq",
            sa.BigInteger,
            nullable=True,
            comment="order in which attempts got an outcome to record (next_recordable_seq())",
        ),
    )
    op.create_index(
        "uq_job_attempts_recordable_seq",
        "job_attempts",
        ["recordable_seq"],
        unique=True,
        postgresql_where=sa.text("recordable_seq IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_job_attempts_recordable_seq", table_name="job_attempts")
    op.drop_column("job_attempts", "recordable_seq")
    op.execute("DROP FUNCTION next_recordable_seq()")
    op.execute("DROP SEQUENCE job_attempts_recordable_seq")
