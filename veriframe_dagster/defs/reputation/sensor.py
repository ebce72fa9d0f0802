"""The activity_days sensor: which UTC days did the latest chain ingestion or render attempts
change? It reports them as runless materializations of `activity_days` partitions, which the
daily tables' automation conditions follow.

From the chain sensor's materializations of the chain tables (their metadata says what a tick
did): a tick that ingested blocks first..last changed the days from the chain time before its
first block (the previous tick's: jobs whose deadline passed since then expire in this tick,
and `network_daily` counts them on their deadline's day) to its own last block's; a tick that
rolled back to a fork block changed every day from the fork block's on, to its last block's.

Attempts change without chain events (the API writes them): the cursor keeps the newest
attempt id and the newest end, both indexed maxima of `job_attempts`. New attempts mark the
days of their claims; newly ended ones the days from their lease's end (an expiry's day) or
claim to their end, so an attempt ending at 23:59:58 and seen after midnight marks yesterday.
Verdicts (`verifications.finished_at`) and sanctions (`sanctions.created_at`) are followed
the same way, by their newest moment, and mark their own days.

A tick with nothing new costs one read of Dagster's asset index and one indexed warehouse
query (four maxima). The sensor uses the warehouse resource the reputation assets take,
handed to it when the definitions are built (see the chain sensor).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.chain.assets import TABLES as CHAIN_TABLES
from veriframe_dagster.defs.chain.assets import table_key as chain_table_key
from veriframe_dagster.defs.reputation.assets import ACTIVITY_DAYS_KEY
from veriframe_dagster.defs.reputation.partitions import keys_between
from veriframe_dagster.defs.reputation.sql.common import LATE_COMMIT
from veriframe_dagster.resources import WarehouseResource

SENSOR_NAME = "activity_days_sensor"
RECORDS_PER_TICK = 500


@dataclass
class DaysCursor:
    """The last chain table materialization seen, the attempts' newest id and end, and the
    newest verdict and sanction."""

    storage_id: int | None = None
    attempt_id: int | None = None
    attempt_ended: str | None = None
    decided: str | None = None
    sanctioned: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> DaysCursor:
        if not text:
            return cls()
        values = json.loads(text)
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})

    def dump(self) -> str:
        return json.dumps(asdict(self))


BLOCK_TIME = """
SELECT block_timestamp FROM (
    (SELECT block_number, block_timestamp FROM chain_blocks
     WHERE block_number <= :n ORDER BY block_number DESC LIMIT 1)
    UNION ALL
    (SELECT block_number, block_timestamp FROM contract_events
     WHERE block_number <= :n ORDER BY block_number DESC LIMIT 1)
) AS b ORDER BY block_number DESC LIMIT 1
"""
"""The chain time at block :n: of the newest block at or before it the warehouse knows
(`chain_blocks` keeps only recent blocks; older ones are known by their events)."""

MARKS = """
SELECT (SELECT max(id) FROM job_attempts) AS id, (SELECT max(ended_at) FROM job_attempts) AS ended,
       (SELECT max(finished_at) FROM verifications) AS decided,
       (SELECT max(created_at) FROM sanctions) AS sanctioned
"""
NEW_ATTEMPTS = """
SELECT min(claimed_at) AS first, max(claimed_at) AS last FROM job_attempts WHERE id > :id
"""
ENDED_ATTEMPTS = """
SELECT min(least(claimed_at, lease_expires_at, ended_at)) AS first, max(ended_at) AS last
FROM job_attempts WHERE ended_at > :after
"""
DECIDED = """
SELECT min(finished_at) AS first, max(finished_at) AS last FROM verifications
WHERE finished_at > :after
"""
SANCTIONED = """
SELECT min(created_at) AS first, max(created_at) AS last FROM sanctions WHERE created_at > :after
"""


def _utc_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.UTC).date()


def block_time(conn: sa.Connection, block: int) -> dt.datetime | None:
    return conn.execute(sa.text(BLOCK_TIME), {"n": block}).scalar()


def span_of_tick(
    conn: sa.Connection, metadata: dict[str, Any]
) -> tuple[dt.datetime, dt.datetime] | None:
    """The chain times one chain tick changed (from its materialization's metadata)."""
    reorgs = metadata.get("reorg_details")
    last_block = metadata.get("last_block", metadata.get("head"))
    end = block_time(conn, int(last_block)) if last_block is not None else None
    if reorgs:
        start = block_time(conn, min(int(r["fork_block"]) for r in reorgs))
    elif metadata.get("first_block") is not None:
        start = block_time(conn, int(metadata["first_block"]) - 1)
    else:
        start = None
    rolled_back = [
        dt.datetime.fromisoformat(r["rolled_back_until"])
        for r in reorgs or ()
        if r.get("rolled_back_until")
    ]  # a shorter new branch: the old days changed too
    end = max([t for t in (end, *rolled_back) if t is not None], default=None)
    if end is None:
        return None
    return min(start or end, end), end


def _metadata(record: dg.EventLogRecord) -> dict[str, Any]:
    materialization = record.asset_materialization
    if materialization is None:
        return {}
    return {k: v.value for k, v in materialization.metadata.items()}


CHAIN_KEYS = [chain_table_key(t) for t in CHAIN_TABLES]


def newest_chain_storage_id(instance: dg.DagsterInstance) -> int | None:
    """The storage id of the newest chain table materialization (one read of the asset
    index: what an idle tick costs)."""
    ids = [
        r.asset_entry.last_materialization_storage_id
        for r in instance.get_asset_records(CHAIN_KEYS)
    ]
    return max((i for i in ids if i is not None), default=None)


def new_chain_records(
    instance: dg.DagsterInstance, after: int | None
) -> tuple[list[dg.EventLogRecord], int | None]:
    """The chain tables' materializations after storage id `after`, oldest first, and the
    storage id they are complete up to (a table with a full page caps it: the rest of its
    records come next tick)."""
    records: list[dg.EventLogRecord] = []
    complete_up_to: int | None = None
    for key in CHAIN_KEYS:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after),
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


class Days:
    """The partition keys marked so far, and why."""

    def __init__(self, partitions: dg.DailyPartitionsDefinition) -> None:
        self.partitions = partitions
        self.why: dict[str, set[str]] = {}

    def mark(self, first: dt.datetime | None, last: dt.datetime | None, why: str) -> None:
        if first is None or last is None:
            return
        for key in keys_between(self.partitions, _utc_day(first), _utc_day(max(first, last))):
            self.why.setdefault(key, set()).add(why)


def _chain_days(
    instance: dg.DagsterInstance, conn: sa.Connection, days: Days, after: int | None
) -> int | None:
    records, storage_id = new_chain_records(instance, after)
    seen_ticks: set[str] = set()
    for record in records:
        metadata = _metadata(record)
        tick = json.dumps(
            [metadata.get(k) for k in ("block_range", "reorg_details", "head")], default=str
        )
        if tick in seen_ticks:  # one tick materializes several tables alike
            continue
        seen_ticks.add(tick)
        span = span_of_tick(conn, metadata)
        if span is not None:
            days.mark(*span, "reorg" if metadata.get("reorg_details") else "chain")
    return storage_id


def _newer(
    conn: sa.Connection,
    days: Days,
    sql: str,
    newest: dt.datetime | None,
    seen: str | None,
    why: str,
) -> None:
    """Mark the days of what `sql` finds after the moment `seen` (less `LATE_COMMIT`), when
    the `newest` moment moved past it."""
    before = dt.datetime.fromisoformat(seen) if seen else None
    if newest is not None and (before is None or newest > before):
        after = (
            before - LATE_COMMIT if before is not None else dt.datetime.min.replace(tzinfo=dt.UTC)
        )
        found = conn.execute(sa.text(sql), {"after": after}).one()
        days.mark(found.first, found.last, why)


def _api_days(conn: sa.Connection, days: Days, cursor: DaysCursor, marks: Any) -> None:
    """The days of what the API and the platform's runs wrote: attempts, verdicts, sanctions."""
    if cursor.attempt_id is None:  # the first tick only takes the marks
        return
    if (marks.id or 0) > cursor.attempt_id:
        new = conn.execute(sa.text(NEW_ATTEMPTS), {"id": cursor.attempt_id}).one()
        days.mark(new.first, new.last, "attempts")
    _newer(conn, days, ENDED_ATTEMPTS, marks.ended, cursor.attempt_ended, "attempts")
    _newer(conn, days, DECIDED, marks.decided, cursor.decided, "verdicts")
    _newer(conn, days, SANCTIONED, marks.sanctioned, cursor.sanctioned, "sanctions")


def _iso(moment: dt.datetime | None, previous: str | None) -> str | None:
    return moment.isoformat() if moment is not None else previous


def evaluate(
    instance: dg.DagsterInstance,
    engine: sa.Engine,
    partitions: dg.DailyPartitionsDefinition,
    cursor: DaysCursor,
) -> tuple[dict[str, list[str]], DaysCursor]:
    """The days changed since `cursor` (partition key → why) and the next cursor. The first
    tick reads every chain tick recorded so far (a fresh platform computes its history); the
    attempts, verdicts and sanctions count from the first tick on (history before it is a
    backfill's business)."""
    days = Days(partitions)
    chain_moved = (newest_chain_storage_id(instance) or 0) > (cursor.storage_id or 0)
    with engine.connect() as conn:
        marks = conn.execute(sa.text(MARKS)).one()
        storage_id = cursor.storage_id
        if chain_moved:
            storage_id = _chain_days(instance, conn, days, cursor.storage_id)
        _api_days(conn, days, cursor, marks)
    attempt_id = marks.id if marks.id is not None else (cursor.attempt_id or 0)
    changed = {key: sorted(why) for key, why in days.why.items()}
    return changed, DaysCursor(
        storage_id,
        attempt_id,
        _iso(marks.ended, cursor.attempt_ended),
        _iso(marks.decided, cursor.decided),
        _iso(marks.sanctioned, cursor.sanctioned),
    )


def build_activity_days_sensor(
    partitions: dg.DailyPartitionsDefinition, interval_s: int, warehouse: WarehouseResource
) -> dg.SensorDefinition:
    """The activity_days sensor over the days of `partitions`, every `interval_s`."""

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Marks the UTC days whose data changed (chain ingestion, reorgs, expiries, "
        "render attempts, verdicts, sanctions) as runless materializations of "
        "reputation/activity_days. Launches no run: the reputation tables' automation "
        "conditions follow the marked days.",
    )
    def activity_days_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        previous = DaysCursor.parse(context.cursor)
        days, cursor = evaluate(context.instance, warehouse.engine(), partitions, previous)
        if not days:
            return dg.SensorResult(skip_reason="no day's data changed", cursor=cursor.dump())
        context.log.info(f"activity_days: days {', '.join(sorted(days))} changed")
        return dg.SensorResult(
            skip_reason=f"marked days {', '.join(sorted(days))} (runless: no run launched)",
            asset_events=[
                dg.AssetMaterialization(
                    asset_key=ACTIVITY_DAYS_KEY,
                    partition=key,
                    metadata={"changed_by": ", ".join(why)},
                )
                for key, why in sorted(days.items())
            ],
            cursor=cursor.dump(),
        )

    return activity_days_sensor
