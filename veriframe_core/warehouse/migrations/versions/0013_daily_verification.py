"""The daily tables count what verification found, on the UTC day of the verdict (or of the
sanction): verified and rejected deliveries, results rejected on chain and sanctions per
worker and for the network, and the network's median seconds from a delivery to its verdict.

The days already written get their counts here, from the same rows the statements read
(`verifications` decided that day, `sanctions` sent that day), so no day has to be
recomputed. The verdicts and sanctions are read by time (the statements, and the
activity_days sensor's newest verdict and sanction), hence the two indexes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "analytics"
COUNTS = {
    "deliveries_verified": "delivered frames that verification passed that day",
    "deliveries_rejected": "delivered frames that verification rejected that day",
    "results_rejected_on_chain": "results submitted on chain without a delivery (around the "
    "API, or ahead of the worker holding the claim) that verification rejected that day",
    "sanctions": "slashes and unverifications the operator's account sent that day",
}
WORKER_COUNTS = {
    "deliveries_verified": "its delivered frames that verification passed that day",
    "deliveries_rejected": "its delivered frames that verification rejected that day",
    "results_rejected_on_chain": "its results submitted on chain without a delivery that "
    "verification rejected that day",
    "sanctions": "slashes and unverifications the operator's account sent against it that day",
}
MEDIAN = (
    "median_seconds_to_verdict",
    "delivery to verdict, of the deliveries whose verification was decided that day",
)

VERDICTS = """
SELECT (v.finished_at AT TIME ZONE 'UTC')::date AS day, v.worker_address,
       (v.source = 'delivery' AND v.state = 'verified')::int AS deliveries_verified,
       (v.source = 'delivery' AND v.state = 'rejected')::int AS deliveries_rejected,
       (v.source = 'chain' AND v.state = 'rejected')::int AS results_rejected_on_chain,
       0 AS sanctions,
       CASE WHEN v.source = 'delivery' THEN extract(epoch FROM v.finished_at - v.created_at)
       END AS seconds
FROM verifications v WHERE v.finished_at IS NOT NULL
UNION ALL
SELECT (s.created_at AT TIME ZONE 'UTC')::date, s.worker_address, 0, 0, 0, 1, NULL
FROM sanctions s WHERE s.outcome = 'sent'
"""
"""One row per verdict and per sent sanction, on its UTC day (as of this revision)."""

SUMS = ", ".join(f"sum({c}) AS {c}" for c in COUNTS)
SET = ", ".join(f"{c} = f.{c}" for c in COUNTS)
FILL_WORKER_DAYS = f"""
UPDATE analytics.worker_reputation_daily t SET {SET}
FROM (SELECT day, worker_address, {SUMS} FROM ({VERDICTS}) v GROUP BY 1, 2) f
WHERE t.day = f.day AND t.worker_address = f.worker_address
"""
FILL_NETWORK_DAYS = f"""
UPDATE analytics.network_daily t SET {SET}, {MEDIAN[0]} = f.median_s
FROM (SELECT day, {SUMS}, percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS median_s
      FROM ({VERDICTS}) v GROUP BY 1) f
WHERE t.day = f.day
"""


def _add_counts(table: str, comments: dict[str, str]) -> None:
    for name, comment in comments.items():
        op.add_column(
            table,
            sa.Column(
                name,
                sa.Integer(),
                nullable=False,
                server_default="0",
                comment=comment,
            ),
            schema=SCHEMA,
        )


def _drop_defaults(table: str) -> None:
    """The statements write every column: a default would hide one they forgot."""
    for name in COUNTS:
        op.alter_column(table, name, schema=SCHEMA, server_default=None)


def upgrade() -> None:
    op.create_index(
        "ix_verifications_finished_at",
        "verifications",
        ["finished_at"],
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    )
    op.create_index("ix_sanctions_created_at", "sanctions", ["created_at"])
    _add_counts("worker_reputation_daily", WORKER_COUNTS)
    _add_counts("network_daily", COUNTS)
    op.add_column(
        "network_daily", sa.Column(MEDIAN[0], sa.Float(), comment=MEDIAN[1]), schema=SCHEMA
    )
    op.execute(FILL_WORKER_DAYS)
    op.execute(FILL_NETWORK_DAYS)
    _drop_defaults("worker_reputation_daily")
    _drop_defaults("network_daily")


def downgrade() -> None:
    op.drop_column("network_daily", MEDIAN[0], schema=SCHEMA)
    for table in ("worker_reputation_daily", "network_daily"):
        for name in COUNTS:
            op.drop_column(table, name, schema=SCHEMA)
    op.drop_index("ix_sanctions_created_at", table_name="sanctions")
    op.drop_index("ix_verifications_finished_at", table_name="verifications")
