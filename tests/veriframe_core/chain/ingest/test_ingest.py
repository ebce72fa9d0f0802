"""Chain ingestion against a real devchain and a real Postgres."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.support.activity import Activity
from tests.support.chain import Driver, chain_event_count
from tests.support.warehouse import assert_tables_match_contract, ingestor, snapshot
from veriframe_core.chain.ingest import ChainIngestor, IngestTarget


@pytest.fixture(scope="module")
def activity(chain: Driver) -> Activity:
    activity = Activity(chain)
    activity.setup_workers()
    return activity


def test_full_lifecycle_equals_the_contract_views(
    chain: Driver, activity: Activity, new_warehouse
) -> None:
    activity.full_round()
    activity.create_jobs(chain.accounts[1], 2, ttl=10**6)  # stays open
    engine = new_warehouse()
    report = ingestor(engine, chain).tick(60, until_caught_up=True)
    assert report.caught_up and report.head_lag_blocks == 0
    assert report.batches > 1  # batch_events=13 forces several transactions
    assert report.events == chain_event_count(chain)
    assert_tables_match_contract(chain, engine)
    tables = snapshot(engine)
    statuses = {row["status"] for row in tables["jobs"]}
    assert {"finalized", "open"} <= statuses
    reasons = {row["reason"] for row in tables["reputation_history"]}
    assert reasons == {"verified", "unverified", "rating", "slash"}
    ratings = [r for r in tables["reputation_history"] if r["reason"] == "rating"]
    assert all(r["changed_by"] and r["job_id"] for r in ratings)
    assert {r["quality_score"] for r in ratings} == {95, 80, 65, 10}  # 50 emits no event
    assert all(row["total_earnings"] > 0 for row in tables["workers"] if row["jobs_completed"])


def test_new_blocks_are_picked_up_and_open_jobs_expire(chain: Driver, new_warehouse) -> None:
    engine = new_warehouse()
    first = ingestor(engine, chain).tick(60, until_caught_up=True)
    activity = Activity(chain)
    jobs = activity.create_jobs(chain.accounts[2], 2, ttl=30)
    second = ingestor(engine, chain).tick(60, until_caught_up=True)
    assert second.first_block == first.last_block + 1
    assert second.rows["jobs"] == 2
    with engine.connect() as conn:

        def status() -> dict:
            query = sa.text("SELECT job_id, status FROM jobs WHERE job_id = ANY(:ids)")
            return dict(conn.execute(query, {"ids": jobs}).all())

        assert set(status().values()) == {"open"}
    chain.rpc("devchain_increaseTime", {"seconds": 31})
    chain.rpc("devchain_mine")
    ingestor(engine, chain).tick(60, until_caught_up=True)
    with engine.connect() as conn:
        assert set(status().values()) == {"expired"}
    assert_tables_match_contract(chain, engine)


def test_running_the_same_range_twice_changes_nothing(chain: Driver, new_warehouse) -> None:
    """A cursor moved back (or deleted) by hand re-runs its range: what was stored after it
    is rolled back and ingested again, and the tables come out the same."""
    engine = new_warehouse()
    first = ingestor(engine, chain).tick(60, until_caught_up=True)
    before = snapshot(engine)
    events = before["contract_events"]
    middle = events[len(events) // 2]
    after_middle = sum(e["block_number"] > middle["block_number"] for e in events)
    assert 0 < after_middle < first.events
    with engine.begin() as conn:  # rewind to a block in the middle
        conn.execute(
            sa.text("UPDATE chain_cursor SET block_number = :n, block_hash = :h"),
            {"n": middle["block_number"], "h": middle["block_hash"]},
        )
    again = ingestor(engine, chain, batch_events=5).tick(60, until_caught_up=True)
    assert again.events == after_middle and again.batches > 1
    assert [r["reason"] for r in again.reorgs] == ["events after the cursor"]
    assert snapshot(engine) == before
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM chain_cursor"))  # forget progress: replay from block 0
    replay = ingestor(engine, chain, batch_events=5).tick(60, until_caught_up=True)
    assert replay.events == first.events
    assert snapshot(engine) == before


def test_a_failure_inside_a_batch_leaves_nothing_half_written(
    chain: Driver, new_warehouse, monkeypatch
) -> None:
    from veriframe_core.chain.ingest import store

    engine = new_warehouse()
    real_set_cursor = store.set_cursor
    calls = {"n": 0}

    def crash_on_second_batch(conn, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")  # after the batch's events, rows and blocks
        real_set_cursor(conn, *args)

    monkeypatch.setattr(store, "set_cursor", crash_on_second_batch)
    try:
        ingestor(engine, chain).tick(60, until_caught_up=True)
    except RuntimeError as err:
        assert "power cut" in str(err)
    else:
        raise AssertionError("the injected failure did not happen")
    after_first = snapshot(engine)
    cursor_block = after_first["chain_cursor"][0]["block_number"]
    assert all(e["block_number"] <= cursor_block for e in after_first["contract_events"])
    monkeypatch.setattr(store, "set_cursor", real_set_cursor)
    ingestor(engine, chain).tick(60, until_caught_up=True)
    fresh = new_warehouse()
    ingestor(fresh, chain).tick(60, until_caught_up=True)
    assert snapshot(engine) == snapshot(fresh)


def test_indexing_from_a_later_start_block(
    chain: Driver, activity: Activity, new_warehouse
) -> None:
    """Events about workers and jobs from before the start block are kept, never a crash."""
    start = chain.rpc("starknet_blockNumber") + 1
    creator = chain.accounts[1]
    (job,) = activity.create_jobs(creator, 1, ttl=10**6)
    worker = next(
        w
        for w in activity.workers
        if chain.view(chain.registry, "is_worker_eligible", w.address, job)
    )
    activity.submit(worker, job, creator)  # the worker registered before `start`
    engine = new_warehouse()
    target = IngestTarget(chain.url, chain.registry.address, start)
    report = ChainIngestor(engine, target).tick(60, until_caught_up=True)
    assert report.events == 2 and report.caught_up
    tables = snapshot(engine)
    assert [(int(j["job_id"]), j["status"]) for j in tables["jobs"]] == [(job, "submitted")]
    assert tables["workers"] == []  # known only from before the start block
