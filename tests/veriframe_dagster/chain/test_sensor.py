"""The chain sensor against a real devchain and a real Postgres: evaluations with a cursor."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.support.activity import Activity
from tests.support.chain import Driver
from tests.support.definitions import settings_for
from veriframe_core.chain.ingest import ChainIngestor
from veriframe_core.processes import free_port
from veriframe_core.settings import Settings
from veriframe_dagster.defs.chain.assets import TABLES, table_key
from veriframe_dagster.defs.chain.sensor import (
    SENSOR_NAME,
    FollowStats,
    build_chain_sensor,
    ingest_and_follow,
)
from veriframe_dagster.resources import build_resources


def evaluate(settings: Settings, cursor: str | None) -> dg.SensorResult:
    """One sensor tick, as the daemon would run it."""
    resources = build_resources(settings)
    sensor = build_chain_sensor(
        settings.chain_sensor_interval_s,
        resources["warehouse"],
        resources["chain"],
        resources["ingestion"],
    )
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(cursor=cursor, instance=instance) as context,
    ):
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def materializations(result: dg.SensorResult) -> dict[str, dg.AssetMaterialization]:
    events = {e.asset_key: e for e in result.asset_events}
    assert all(isinstance(e, dg.AssetMaterialization) for e in events.values())
    return {t: events[table_key(t)] for t in TABLES if table_key(t) in events}


def meta(event: dg.AssetMaterialization, key: str):
    return event.metadata[key].value


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def db_cursor(engine: sa.Engine) -> tuple[int, str] | None:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT block_number, block_hash FROM chain_cursor")).first()
    return tuple(row) if row else None


def test_first_tick_materializes_every_table_with_block_range_and_cursor(
    activity: Activity, chain: Driver, engine: sa.Engine, warehouse_url: str, tmp_path: Path
) -> None:
    head = activity.head()
    result = evaluate(settings_for(chain, warehouse_url, tmp_path), cursor=None)

    assert result.cursor == str(head)
    assert result.run_requests == []
    assert "materialized contract_events, workers, jobs" in result.skip_reason.skip_message
    events = materializations(result)
    assert set(events) == set(TABLES)
    for event in events.values():
        assert meta(event, "block_range") == f"0..{head}"
        assert (meta(event, "first_block"), meta(event, "last_block")) == (0, head)
        assert meta(event, "head") == head
        assert meta(event, "head_lag_blocks") == 0
        assert meta(event, "head_lag_seconds") == 0.0
        assert meta(event, "reorgs") == 0
        assert meta(event, "caught_up") is True
        assert meta(event, "batches") >= 2  # 7 events per batch
        assert meta(event, "rpc_seconds") > 0
        assert meta(event, "rows_changed") > 0
    # a fresh warehouse: every row of the append-only tables is new in this tick
    for table in ("contract_events", "reputation_history"):
        assert meta(events[table], "rows_changed") == count(engine, table)
    assert meta(events["contract_events"], "events") == count(engine, "contract_events")
    assert db_cursor(engine)[0] == head


def test_tick_without_new_blocks_changes_nothing_then_new_transactions_are_picked_up(
    activity: Activity, chain: Driver, engine: sa.Engine, warehouse_url: str, tmp_path: Path
) -> None:
    settings = settings_for(chain, warehouse_url, tmp_path)
    first = evaluate(settings, cursor=None)
    before = {t: count(engine, t) for t in TABLES}

    idle = evaluate(settings, cursor=first.cursor)
    assert idle.asset_events == [] and idle.run_requests == []
    assert idle.cursor == first.cursor
    assert "no new JobRegistry events" in idle.skip_reason.skip_message
    assert {t: count(engine, t) for t in TABLES} == before

    job_id = activity.create_job()
    head = activity.head()
    picked = evaluate(settings, cursor=idle.cursor)
    assert picked.cursor == str(head)
    events = materializations(picked)
    assert set(events) == {"contract_events", "jobs"}
    assert meta(events["jobs"], "rows_changed") == 1
    assert meta(events["contract_events"], "rows_changed") == 1
    assert meta(events["jobs"], "first_block") == int(first.cursor) + 1
    assert meta(events["jobs"], "last_block") == head
    with engine.connect() as conn:
        status = conn.execute(sa.text("SELECT status FROM jobs WHERE job_id = :j"), {"j": job_id})
        assert status.scalar_one() == "open"


def test_a_tick_follows_the_head_and_reports_what_arrived_meanwhile(
    activity: Activity, chain: Driver, engine: sa.Engine, warehouse_url: str, tmp_path: Path
) -> None:
    settings = settings_for(chain, warehouse_url, tmp_path)
    evaluate(settings, cursor=None)
    following = settings.model_copy(
        update={"chain_sensor_follow_s": 6.0, "chain_sensor_poll_s": 0.1}
    )
    created: list[int] = []
    sender = threading.Thread(target=lambda: (time.sleep(1), created.append(activity.create_job())))
    sender.start()
    started = time.monotonic()
    result = evaluate(following, cursor=None)
    sender.join()
    assert 5.5 < time.monotonic() - started < 12  # follows ~6 s, not the whole budget
    events = materializations(result)
    assert meta(events["jobs"], "rows_changed") == 1
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT max(job_id) FROM jobs")).scalar_one() == created[0]


def test_following_reads_the_chain_again_only_when_the_head_moves(
    activity: Activity, chain: Driver, engine: sa.Engine, warehouse_url: str, tmp_path: Path
) -> None:
    ingestor = ChainIngestor.from_settings(engine, settings_for(chain, warehouse_url, tmp_path))
    ingestor.tick(60, until_caught_up=True)
    quiet = FollowStats()
    ingest_and_follow(ingestor, budget_s=20, follow_s=1.5, poll_s=0.1, stats=quiet)
    assert quiet.passes == 1  # a quiet chain: head polls only
    assert quiet.head_polls >= 5

    head = activity.head()
    busy = FollowStats()
    sender = threading.Thread(target=lambda: (time.sleep(0.5), activity.create_job()))
    sender.start()
    report = ingest_and_follow(ingestor, budget_s=20, follow_s=5, poll_s=0.1, stats=busy)
    sender.join()
    assert report.rows["jobs"] == 1
    assert 2 <= busy.passes <= 1 + (report.head - head)  # one more pass per head move at most


def test_failed_tick_raises_and_leaves_the_cursor_where_it_was(
    activity: Activity, chain: Driver, engine: sa.Engine, warehouse_url: str, tmp_path: Path
) -> None:
    evaluate(settings_for(chain, warehouse_url, tmp_path), cursor=None)
    cursor = db_cursor(engine)
    activity.create_job()  # there is something to ingest, but the node is unreachable
    dead = settings_for(
        chain,
        warehouse_url,
        tmp_path,
        starknet_rpc_url=f"http://127.0.0.1:{free_port()}/rpc",
        starknet_rpc_timeout_s=2,
    )
    with pytest.raises(Exception, match="not reachable"):
        evaluate(dead, cursor=str(cursor[0]))
    assert db_cursor(engine) == cursor


def test_sensor_is_declared_running_with_the_configured_interval() -> None:
    resources = build_resources(Settings())
    sensor = build_chain_sensor(
        3, resources["warehouse"], resources["chain"], resources["ingestion"]
    )
    assert sensor.name == SENSOR_NAME
    assert sensor.minimum_interval_seconds == 3
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    # given its resources, not as parameters: Dagster would make an instance every tick
    assert sensor.required_resource_keys == set()
