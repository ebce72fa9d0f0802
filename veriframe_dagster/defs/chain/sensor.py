"""The chain sensor: ingestion ticks that report runless materializations of the chain tables.

Each tick runs `ChainIngestor.tick` (the same code path as `veriframe index`): reorg check,
batches in one Postgres transaction each, cursor in `chain_cursor`. No run is launched: the
tables that changed get an `AssetMaterialization` in the `SensorResult`, with what the tick
did as metadata. The sensor's own cursor is informational (last ingested block); the truth
is the `chain_cursor` row, which moves only with the data.

Why a tick *follows* the head after catching up: Dagster's sensor daemon starts ticks at
most every 5 s (`MIN_INTERVAL_LOOP_TIME` in `dagster/_daemon/sensor.py`, not configurable),
whatever the sensor's minimum interval. Polling the head for a few more seconds inside the
tick brings a transaction's row in `jobs` from p95 6.6 s down to p95 0.8 s
(bench/chain_live_latency.py, bench/README.md). The follow window counts from the tick's
start and ends before the daemon's next loop, or the daemon skips a whole tick.

The sensor uses the narrow resources the chain checks take (the warehouse, the chain) and
the ingestion's knobs: the same objects, handed to it when the definitions are built, not
as Dagster resource parameters. With those, every evaluation would build them again and,
first, the Dagster instance (Postgres storages) the code server's context otherwise makes
only when used: 2.4 → 18.6 ms of CPU per idle tick (bench/README.md, "Narrow resources").

A failed first pass (node down, database down) raises, so Dagster records a failed tick and
the cursor stays where the last committed batch left it. An error while following only ends
the tick early: what was committed is still reported, and the next tick's first pass fails
loudly if the problem persists.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg

from veriframe_dagster.defs.chain.assets import TABLES, table_key
from veriframe_dagster.resources import ChainResource, IngestionResource, WarehouseResource

if TYPE_CHECKING:
    from veriframe_core.chain.ingest import ChainIngestor, TickReport

SENSOR_NAME = "chain_sensor"
log = logging.getLogger("veriframe.chain_sensor")


def merge_reports(first: TickReport, later: TickReport) -> TickReport:
    """One report for a tick made of several ingestion passes."""
    first.head = later.head
    if first.first_block is None:
        first.first_block = later.first_block
    if later.last_block is not None or later.reorgs:
        first.last_block = later.last_block
    first.events += later.events
    first.rows.update(later.rows)
    first.reorgs.extend(later.reorgs)
    first.batches += later.batches
    first.caught_up = later.caught_up
    first.head_lag_blocks = later.head_lag_blocks
    first.head_lag_seconds = later.head_lag_seconds
    first.seconds.update(later.seconds)
    return first


@dataclass
class FollowStats:
    """Where a tick's time went: its ingestion passes (the first one and the follow ones)."""

    first_pass_s: float = 0.0
    passes: int = 0
    slowest_pass_s: float = 0.0
    passes_s: float = 0.0
    head_polls: int = 0

    def add(self, took: float) -> None:
        if not self.passes:
            self.first_pass_s = took
        self.passes += 1
        self.passes_s += took
        self.slowest_pass_s = max(self.slowest_pass_s, took)

    def __str__(self) -> str:
        return (
            f"{self.passes} passes ({self.passes_s:.2f} s, first {self.first_pass_s:.2f} s, "
            f"slowest {self.slowest_pass_s:.2f} s), {self.head_polls} head polls"
        )


def ingest_and_follow(
    ingestor: ChainIngestor,
    budget_s: float,
    follow_s: float,
    poll_s: float,
    stats: FollowStats | None = None,
    started: float | None = None,
) -> TickReport:
    """One ingestion pass, then (once caught up) a look at the head every `poll_s` until
    `follow_s` after `started` (the tick's start, monotonic clock; default: now), and another
    pass whenever the head has moved. A quiet chain costs one RPC per look; a reorg that keeps
    the head's height is found by the next tick's first pass.

    Counting from the tick's start matters: the first tick in a fresh code server (the daemon
    replaces it every 60 s) spends seconds importing the chain stack; following a full
    `follow_s` after that would overrun the daemon's 5 s loop, which then skips a whole tick.
    """
    stats = stats if stats is not None else FollowStats()
    started = time.monotonic() if started is None else started
    pass_started = time.monotonic()
    report = ingestor.tick(budget_s)
    stats.add(time.monotonic() - pass_started)
    follow_until = started + min(follow_s, budget_s)
    while report.caught_up and time.monotonic() + poll_s < follow_until:
        time.sleep(poll_s)
        try:
            stats.head_polls += 1
            if ingestor.head() == report.head:
                continue
            remaining = budget_s - (time.monotonic() - started)
            pass_started = time.monotonic()
            more = ingestor.tick(max(remaining, poll_s))
        except Exception as err:  # the first pass already succeeded: report it
            log.warning("Chain sensor stopped following the head early: %s", err)
            break
        stats.add(time.monotonic() - pass_started)
        report = merge_reports(report, more)
    return report


def changed_tables(report: TickReport) -> list[str]:
    """Tables with new or changed rows; after a reorg, all of them (rows were rolled back)."""
    if report.reorgs:
        return list(TABLES)
    return [t for t in TABLES if report.rows.get(t, 0) > 0]


def materialization_metadata(report: TickReport, table: str) -> dict[str, Any]:
    first, last = report.first_block, report.last_block
    metadata: dict[str, Any] = {
        "block_range": f"{first}..{last}",
        "first_block": dg.MetadataValue.int(first) if first is not None else None,
        "last_block": dg.MetadataValue.int(last) if last is not None else None,
        "rows_changed": dg.MetadataValue.int(report.rows.get(table, 0)),
        "events": dg.MetadataValue.int(report.events),
        "head": dg.MetadataValue.int(report.head),
        "head_lag_blocks": dg.MetadataValue.int(report.head_lag_blocks),
        "head_lag_seconds": dg.MetadataValue.float(report.head_lag_seconds),
        "caught_up": dg.MetadataValue.bool(report.caught_up),
        "batches": dg.MetadataValue.int(report.batches),
        "reorgs": dg.MetadataValue.int(len(report.reorgs)),
        "rpc_seconds": dg.MetadataValue.float(round(report.seconds["rpc"], 4)),
        "decode_seconds": dg.MetadataValue.float(round(report.seconds["decode"], 4)),
        "db_seconds": dg.MetadataValue.float(round(report.seconds["db"], 4)),
    }
    if report.reorgs:
        metadata["reorg_details"] = dg.MetadataValue.json(report.reorgs)
    return {k: v for k, v in metadata.items() if v is not None}


def summary(report: TickReport) -> str:
    return (
        f"{report.events} JobRegistry events in {report.batches} batches, blocks "
        f"{report.first_block}..{report.last_block} (head {report.head}, lag "
        f"{report.head_lag_blocks} blocks, {len(report.reorgs)} reorgs)"
    )


def sensor_result(report: TickReport, previous_cursor: str | None) -> dg.SensorResult:
    """The tick's materializations and cursor.

    Dagster marks a tick that requests no run as *skipped* whatever it reports, so the skip
    reason carries the summary an operator reads in the tick history.
    """
    cursor = str(report.last_block) if report.last_block is not None else previous_cursor
    tables = changed_tables(report)
    if not tables:
        return dg.SensorResult(
            skip_reason=f"no new JobRegistry events up to block {report.last_block} "
            f"(head {report.head}, lag {report.head_lag_blocks} blocks)",
            cursor=cursor,
        )
    return dg.SensorResult(
        skip_reason=f"ingested {summary(report)}; materialized {', '.join(tables)} "
        "(runless: no run launched)",
        asset_events=[
            dg.AssetMaterialization(
                asset_key=table_key(t),
                description=f"chain ingestion, blocks {report.first_block}..{report.last_block}",
                metadata=materialization_metadata(report, t),
            )
            for t in tables
        ],
        cursor=cursor,
    )


def build_chain_sensor(
    interval_s: int,
    warehouse: WarehouseResource,
    chain: ChainResource,
    ingestion: IngestionResource,
) -> dg.SensorDefinition:
    """The chain sensor on these resources, evaluated at most every `interval_s`."""

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Ingests JobRegistry events into the warehouse (reorg-aware, one Postgres "
        "transaction per batch) and reports the chain tables it changed. Launches no run.",
    )
    def chain_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        started = time.monotonic()
        ingestor = ingestion.ingestor(warehouse.engine(), chain)
        setup_s = time.monotonic() - started
        stats = FollowStats()
        report = ingest_and_follow(
            ingestor,
            ingestion.tick_budget_s,
            ingestion.follow_s,
            ingestion.poll_s,
            stats,
            started,
        )
        line = (
            f"Chain sensor: {summary(report)} in {time.monotonic() - started:.2f} s "
            f"(setup {setup_s:.2f} s, {stats}); rows {dict(report.rows)}"
        )
        # the tick's log opens the instance's storage: only for ticks that did something
        # (an idle tick's skip reason says what it saw)
        if report.events or report.reorgs:
            context.log.info(line)
        else:
            log.debug(line)
        return sensor_result(report, context.cursor)

    return chain_sensor
