"""The platform's state as Prometheus metrics, read at scrape time: the queue (jobs by
status), claims and their outcomes, verifications and their verdicts, sanctions, and how far
ingestion trails the chain. Counts are totals kept by the warehouse, not by this process,
so they survive restarts and agree between API processes; one statement reads them all
(bench/metrics_scrape.py: the figure is in bench/README.md)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.probes import Cursor, Lag, Observation, read_cursor
from veriframe_core.chain.rpc import BlockHeader
from veriframe_core.warehouse.tables import (
    CLAIM_STATES,
    JOB_STATUSES,
    RELEASED_PREFIX,
    VERIFICATION_STATES,
)

COUNTS = sa.text(
    f"""
    SELECT 'jobs', status, '', count(*)::float8 FROM jobs GROUP BY status
    UNION ALL
    SELECT 'stale', '', '', count(*) FROM jobs WHERE deadline <= now() AND status = 'open'
    UNION ALL
    SELECT 'attempts', outcome, '', count(*) FROM (
        SELECT CASE WHEN state = 'expired' AND failure_reason LIKE '{RELEASED_PREFIX}%'
                    THEN 'released' ELSE state END AS outcome
        FROM job_attempts) a
    GROUP BY outcome
    UNION ALL
    SELECT 'lapsed', '', '', count(*) FROM job_attempts
    WHERE state = 'running' AND lease_expires_at <= now()
    UNION ALL
    SELECT 'verifications', state, source, count(*) FROM verifications GROUP BY state, source
    UNION ALL
    SELECT 'oldest_pending', '', '', coalesce((
        SELECT extract(epoch FROM now() - created_at) FROM verifications
        WHERE state IN ('open', 'claimed') ORDER BY id LIMIT 1), 0)
    UNION ALL
    SELECT 'sanctions', action, outcome, count(*) FROM sanctions GROUP BY action, outcome
    """
)
"""(family, label, label, value) rows. Open jobs past their deadline are counted through the
deadline index (a few rows), not the open jobs checked one by one (6.6 of 14.8 ms with
10,000 jobs); the oldest pending verification is the first of the pending index (ids grow
with `created_at`)."""

ATTEMPT_OUTCOMES = (*CLAIM_STATES, "released")
DELIVERED = ("completed", "verifying", "verified", "rejected")
PARTS = ("database", "chain", "ipfs")
Row = tuple[str, str, str, float]


@dataclass(frozen=True)
class Counts:
    cursor: Cursor
    rows: list[Row]

    def of(self, family: str) -> dict[tuple[str, str], float]:
        return {(a, b): value for name, a, b, value in self.rows if name == family}


def read_counts(conn: sa.Connection) -> Counts:
    return Counts(read_cursor(conn), [tuple(row) for row in conn.execute(COUNTS)])


def _by(family: Metric, label_values: Iterable[str], found: dict[str, float]) -> Metric:
    """`family` with a sample for every known label value (0 when none), so an alert on a
    state never sees its series vanish, plus any value the warehouse holds beyond them."""
    for value in dict.fromkeys([*label_values, *found]):
        family.add_metric([value], found.get(value, 0))
    return family


@dataclass(frozen=True)
class PlatformMetrics(Collector):
    """One scrape's observation of the platform, as metric families."""

    seen: Observation[Counts]

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "veriframe_up", "Whether a part answered this scrape (1) or not (0).", labels=["part"]
        )
        probes = (self.seen.warehouse, self.seen.head, self.seen.ipfs)
        for part, probe in zip(PARTS, probes, strict=True):
            if probe is not None:
                up.add_metric([part], 1 if probe.ok else 0)
        yield up
        counts = self.seen.warehouse.value
        if counts is not None:
            yield from self._warehouse(counts)
        yield from self._ingestion(counts.cursor if counts else None, self.seen.head.value)

    def _warehouse(self, counts: Counts) -> Iterator[Metric]:
        jobs = {status: n for (status, _), n in counts.of("jobs").items()}
        yield _by(
            GaugeMetricFamily("veriframe_jobs", "Jobs by status.", labels=["status"]),
            JOB_STATUSES,
            jobs,
        )
        yield GaugeMetricFamily(
            "veriframe_jobs_claimable",
            "Open jobs before their deadline: the queue workers draw from.",
            value=jobs.get("open", 0) - counts.of("stale").get(("", ""), 0),
        )
        attempts = {outcome: n for (outcome, _), n in counts.of("attempts").items()}
        yield _by(
            GaugeMetricFamily(
                "veriframe_attempts",
                "Claims by their state now (expired: the lease lapsed; released: given back).",
                labels=["state"],
            ),
            ATTEMPT_OUTCOMES,
            attempts,
        )
        for name, help_text, value in (
            ("veriframe_claims", "Claims of jobs by workers.", sum(attempts.values())),
            ("veriframe_lease_expiries", "Claims whose lease lapsed.", attempts.get("expired", 0)),
            (
                "veriframe_deliveries",
                "Results delivered through the API.",
                sum(attempts.get(s, 0) for s in DELIVERED),
            ),
        ):
            yield CounterMetricFamily(name, help_text, value=value)
        yield GaugeMetricFamily(
            "veriframe_claims_lapsed",
            "Running claims past their lease that the lease sweep has not reopened yet.",
            value=counts.of("lapsed").get(("", ""), 0),
        )
        yield from self._verifications(counts)

    def _verifications(self, counts: Counts) -> Iterator[Metric]:
        verifications = counts.of("verifications")
        verdicts = CounterMetricFamily(
            "veriframe_verification_verdicts",
            "Verifications decided, by verdict and source (delivery: through the API; "
            "chain: a result submitted on chain without a verified delivery).",
            labels=["verdict", "source"],
        )
        pending = GaugeMetricFamily(
            "veriframe_verifications_pending",
            "Verifications waiting for a verifier (open) or being verified (claimed).",
            labels=["state"],
        )
        for state in VERIFICATION_STATES:
            total = 0.0
            for source in ("delivery", "chain"):
                n = verifications.get((state, source), 0)
                total += n
                if state in ("verified", "rejected"):
                    verdicts.add_metric([state, source], n)
            if state in ("open", "claimed"):
                pending.add_metric([state], total)
        yield verdicts
        yield pending
        yield GaugeMetricFamily(
            "veriframe_verification_oldest_pending_seconds",
            "Age of the oldest verification not yet decided (0 with none).",
            value=counts.of("oldest_pending").get(("", ""), 0),
        )
        sanctions = CounterMetricFamily(
            "veriframe_sanctions",
            "Actions the operator's account took against cheats, by action and outcome.",
            labels=["action", "outcome"],
        )
        for (action, outcome), n in sorted(counts.of("sanctions").items()):
            sanctions.add_metric([action, outcome], n)
        yield sanctions

    @staticmethod
    def _ingestion(cursor: Cursor | None, head: BlockHeader | None) -> Iterator[Metric]:
        if cursor is not None and cursor.block is not None:
            yield GaugeMetricFamily(
                "veriframe_ingested_block", "Last block ingestion finished.", value=cursor.block
            )
        if head is None:
            return
        yield GaugeMetricFamily(
            "veriframe_chain_head_block", "The chain's newest block.", value=head.number
        )
        lag = Lag.between(head, cursor) if cursor is not None else None
        if lag is None:
            return
        yield GaugeMetricFamily(
            "veriframe_ingestion_lag_blocks",
            "Blocks between the chain's head and the last ingested block.",
            value=lag.blocks,
        )
        if lag.seconds is not None:
            yield GaugeMetricFamily(
                "veriframe_ingestion_lag_seconds",
                "Chain time between the head and the last ingested block.",
                value=lag.seconds,
            )
