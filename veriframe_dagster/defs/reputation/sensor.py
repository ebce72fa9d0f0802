"""The activity_days sensor: which UTC days did the latest chain ingestion or render attempts
change? It reports them as runless materializations of `activity_days` partitions, which the
daily tables' automation conditions follow.

From the chain sensor's materializations of the chain tables (their metadata says what a tick
did): a tick that ingested blocks first..last changed the days from the first block's to the
chain's latest; a tick that rolled back to a fork block changed every day from the fork
block's on (the rolled-back blocks and their replacements all lie after it). Jobs expire by
chain time, so they fall in the same span.

Attempts change without chain events (the API writes them): the sensor keeps a fingerprint
of `job_attempts` (ended attempts, newest id) and marks the day of the newest claim or end.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.chain.assets import TABLES as CHAIN_TABLES
from veriframe_dagster.defs.chain.assets import table_key as chain_table_key
from veriframe_dagster.defs.reputation.assets import ACTIVITY_DAYS_KEY
from veriframe_dagster.defs.reputation.partitions import keys_between
from veriframe_dagster.resources import WarehouseResource

SENSOR_NAME = "activity_days_sensor"
RECORDS_PER_TICK = 500


@dataclass
class DaysCursor:
    """The last chain table materialization seen, and the attempts' fingerprint."""

    storage_id: int | None = None
    attempts: list[Any] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None) -> DaysCursor:
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self))


BLOCK_TIME_AT_OR_AFTER = """
SELECT block_timestamp FROM (
    (SELECT block_number, block_timestamp FROM chain_blocks
     WHERE block_number >= :n ORDER BY block_number LIMIT 1)
    UNION ALL
    (SELECT block_number, block_timestamp FROM contract_events
     WHERE block_number >= :n ORDER BY block_number LIMIT 1)
) AS b ORDER BY block_number LIMIT 1
"""
BLOCK_TIME_AT_OR_BEFORE = """
SELECT block_timestamp FROM (
    (SELECT block_number, block_timestamp FROM chain_blocks
     WHERE block_number <= :n ORDER BY block_number DESC LIMIT 1)
    UNION ALL
    (SELECT block_number, block_timestamp FROM contract_events
     WHERE block_number <= :n ORDER BY block_number DESC LIMIT 1)
) AS b ORDER BY block_number DESC LIMIT 1
"""
CHAIN_NOW = "SELECT block_timestamp FROM chain_blocks ORDER BY block_number DESC LIMIT 1"
ATTEMPTS_FINGERPRINT = """
SELECT count(*) FILTER (WHERE state IN ('completed', 'failed', 'expired')) AS ended,
       coalesce(max(id), 0) AS newest,
       max(greatest(claimed_at, coalesce(ended_at, claimed_at))) AS latest
FROM job_attempts
"""


def _utc_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.UTC).date()


def _time(conn: sa.Connection, sql: str, block: int) -> dt.datetime | None:
    return conn.execute(sa.text(sql), {"n": block}).scalar()


def days_of_tick(conn: sa.Connection, metadata: dict[str, Any]) -> list[str]:
    """The partition keys of the days one chain tick changed (from its metadata)."""
    reorgs = metadata.get("reorg_details")
    first_block = metadata.get("first_block")
    if reorgs:
        fork = min(int(r["fork_block"]) for r in reorgs)
        start = _time(conn, BLOCK_TIME_AT_OR_BEFORE, fork) if fork >= 0 else None
        start = start or _time(conn, BLOCK_TIME_AT_OR_AFTER, max(fork, 0))
    elif first_block is not None:
        start = _time(conn, BLOCK_TIME_AT_OR_AFTER, int(first_block))
    else:
        start = None
    now = conn.execute(sa.text(CHAIN_NOW)).scalar()
    start = start or now
    if start is None or now is None:
        return []
    return keys_between(_utc_day(start), _utc_day(max(start, now)))


def _metadata(record: dg.EventLogRecord) -> dict[str, Any]:
    materialization = record.asset_materialization
    if materialization is None:
        return {}
    return {k: v.value for k, v in materialization.metadata.items()}


def new_chain_records(
    instance: dg.DagsterInstance, after: int | None
) -> tuple[list[dg.EventLogRecord], int | None]:
    """The chain tables' materializations after storage id `after`, oldest first, and the
    storage id they are complete up to (a table with a full page caps it: the rest of its
    records come next tick)."""
    records: list[dg.EventLogRecord] = []
    complete_up_to: int | None = None
    for table in CHAIN_TABLES:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=chain_table_key(table), after_storage_id=after),
            limit=RECORDS_PER_TICK,
            ascending=True,
        ).records
        records.extend(page)
        if len(page) == RECORDS_PER_TICK:
            last = page[-1].storage_id
            complete_up_to = last if complete_up_to is None else min(complete_up_to, last)
    if complete_up_to is not None:
        records = [r for r in records if r.storage_id <= complete_up_to]
    newest = max((r.storage_id for r in records), default=after)
    return sorted(records, key=lambda r: r.storage_id), newest


def evaluate(
    instance: dg.DagsterInstance, engine: sa.Engine, cursor: DaysCursor
) -> tuple[dict[str, list[str]], DaysCursor]:
    """The days changed since `cursor` (partition key → why) and the next cursor. The first
    tick reads every chain tick recorded so far: a fresh platform computes its history."""
    days: dict[str, list[str]] = {}
    with engine.connect() as conn:
        records, storage_id = new_chain_records(instance, cursor.storage_id)
        seen_ticks: set[str] = set()
        for record in records:
            metadata = _metadata(record)
            tick = json.dumps(
                [metadata.get(k) for k in ("block_range", "reorg_details", "head")], default=str
            )
            if tick in seen_ticks:  # one tick materializes several tables alike
                continue
            seen_ticks.add(tick)
            why = "reorg" if metadata.get("reorg_details") else "chain"
            for key in days_of_tick(conn, metadata):
                days.setdefault(key, []).append(why)
        fingerprint = conn.execute(sa.text(ATTEMPTS_FINGERPRINT)).one()
    attempts = [fingerprint.ended, fingerprint.newest]
    if cursor.attempts and attempts != cursor.attempts and fingerprint.latest is not None:
        day = _utc_day(fingerprint.latest)
        for key in keys_between(day, day):
            days.setdefault(key, []).append("attempts")
    return days, DaysCursor(storage_id, attempts)


@dg.sensor(
    name=SENSOR_NAME,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks the UTC days whose data changed (chain ingestion, reorgs, expiries, "
    "render attempts) as runless materializations of reputation/activity_days. Launches no "
    "run: the reputation tables' automation conditions follow the marked days.",
)
def activity_days_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult:
    days, cursor = evaluate(context.instance, warehouse.engine(), DaysCursor.parse(context.cursor))
    if not days:
        return dg.SensorResult(skip_reason="no day's data changed", cursor=cursor.dump())
    context.log.info(f"activity_days: days {', '.join(sorted(days))} changed")
    return dg.SensorResult(
        skip_reason=f"marked days {', '.join(sorted(days))} (runless: no run launched)",
        asset_events=[
            dg.AssetMaterialization(
                asset_key=ACTIVITY_DAYS_KEY,
                partition=key,
                metadata={"changed_by": ", ".join(sorted(set(why)))},
            )
            for key, why in sorted(days.items())
        ],
        cursor=cursor.dump(),
    )
