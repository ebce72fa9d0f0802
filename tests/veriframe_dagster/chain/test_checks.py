"""The chain asset checks pass on a correctly ingested warehouse and fail on a corrupted one.

Each test ingests the devchain's activity into a fresh warehouse (through the sensor's code
path), optionally corrupts it, then runs the `chain_checks` job as the schedule would.
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.support.activity import Activity
from tests.support.chain import Driver
from tests.support.definitions import ingest
from veriframe_dagster.defs.chain.assets import TABLES, table_key
from veriframe_dagster.defs.chain.jobs import CHECKS_JOB_NAME

Evaluations = dict[tuple[str, str], dg.AssetCheckEvaluation]
ALL_CHECKS = {
    *((t, "in_sync_with_chain") for t in TABLES),
    ("workers", "matches_contract"),
    ("jobs", "matches_contract"),
    ("jobs", "no_job_id_gaps"),
    ("reputation_history", "consistent_with_workers"),
    ("contract_events", "consistent_with_cursor"),
}


def run_checks(defs: dg.Definitions) -> Evaluations:
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(CHECKS_JOB_NAME).execute_in_process(instance=instance)
    assert result.success
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def failed(evaluations: Evaluations) -> set[tuple[str, str]]:
    return {key for key, e in evaluations.items() if not e.passed}


def execute(engine: sa.Engine, sql: str) -> None:
    with engine.begin() as conn:
        assert conn.execute(sa.text(sql)).rowcount >= 1, sql


@pytest.fixture
def ingested(
    activity: Activity, defs_for: Callable[..., dg.Definitions]
) -> Callable[..., dg.Definitions]:
    """Definitions over a warehouse caught up with the chain's activity."""

    def build(**overrides) -> dg.Definitions:
        defs = defs_for(**overrides)
        ingest(defs)
        return defs

    return build


def test_every_check_passes_on_a_correctly_ingested_warehouse(ingested) -> None:
    evaluations = run_checks(ingested())
    assert set(evaluations) == ALL_CHECKS
    assert failed(evaluations) == set()
    spot = evaluations[("workers", "matches_contract")].metadata
    assert spot["sampled"].value == 4 and spot["mismatches"].value == 0
    assert evaluations[("jobs", "matches_contract")].metadata["sampled"].value >= 6
    gaps = evaluations[("jobs", "no_job_id_gaps")].metadata
    assert gaps["missing_ids"].value == 0 and gaps["job_counter"].value >= 6


def test_spot_check_catches_a_worker_whose_reputation_differs_from_the_contract(
    ingested, engine: sa.Engine
) -> None:
    defs = ingested()
    execute(engine, "UPDATE workers SET reputation = reputation + 7 WHERE reputation < 900")
    evaluations = run_checks(defs)
    assert ("workers", "matches_contract") in failed(evaluations)
    mismatched = evaluations[("workers", "matches_contract")].metadata["mismatched_rows"].value
    assert all(set(m) == {"address", "reputation"} for m in mismatched)


def test_spot_check_catches_a_job_marked_finalized_that_the_contract_has_open(
    ingested, engine: sa.Engine
) -> None:
    defs = ingested()
    execute(engine, "UPDATE jobs SET status = 'finalized' WHERE status = 'open'")
    evaluations = run_checks(defs)
    assert failed(evaluations) == {("jobs", "matches_contract")}


def test_spot_check_catches_a_job_with_the_wrong_worker(ingested, engine: sa.Engine) -> None:
    defs = ingested()
    execute(
        engine, "UPDATE jobs SET worker_address = '0x" + "0" * 63 + "1' WHERE status = 'submitted'"
    )
    assert failed(run_checks(defs)) == {("jobs", "matches_contract")}


def test_gap_check_catches_a_missing_job_in_the_middle_and_at_the_end(
    ingested, engine: sa.Engine, chain: Driver
) -> None:
    defs = ingested()
    counter = chain.view(chain.registry, "get_job_counter")
    execute(engine, "DELETE FROM jobs WHERE job_id = 2")
    evaluations = run_checks(defs)
    assert failed(evaluations) == {("jobs", "no_job_id_gaps")}
    assert evaluations[("jobs", "no_job_id_gaps")].metadata["gaps"].value == [[2, 2]]

    execute(engine, f"DELETE FROM jobs WHERE job_id = {counter}")
    gaps = run_checks(defs)[("jobs", "no_job_id_gaps")].metadata
    assert gaps["missing_ids"].value == 2
    assert gaps["gaps"].value == [[2, 2], [counter, counter]]


def test_freshness_fails_when_the_warehouse_trails_the_head_by_blocks_or_seconds(
    ingested, chain: Driver
) -> None:
    defs = ingested(chain_fresh_max_lag_blocks=10, chain_fresh_max_lag_s=60)
    chain.rpc("devchain_mine", {"count": 11})  # 11 blocks the warehouse has not seen
    fresh = {(t, "in_sync_with_chain") for t in TABLES}
    evaluations = run_checks(defs)
    assert failed(evaluations) == fresh
    assert evaluations[("jobs", "in_sync_with_chain")].metadata["lag_blocks"].value == 11

    ingest(defs)
    assert failed(run_checks(defs)) == set()

    chain.rpc("devchain_increaseTime", {"seconds": 120})
    chain.rpc("devchain_mine", {"count": 1})  # one block, two minutes of chain time later
    evaluations = run_checks(defs)
    assert failed(evaluations) == fresh
    lag = evaluations[("workers", "in_sync_with_chain")].metadata
    assert lag["lag_blocks"].value == 1 and lag["lag_seconds"].value >= 120


def test_history_check_catches_a_change_of_an_unknown_worker(ingested, engine: sa.Engine) -> None:
    defs = ingested()
    execute(
        engine,
        "UPDATE reputation_history SET worker_address = '0x" + "d" * 64 + "' "
        "WHERE id = (SELECT min(id) FROM reputation_history)",
    )
    evaluations = run_checks(defs)
    assert ("reputation_history", "consistent_with_workers") in failed(evaluations)
    assert (
        evaluations[("reputation_history", "consistent_with_workers")]
        .metadata["unknown_workers"]
        .value
        == 1
    )


def test_history_check_catches_a_reputation_that_is_not_the_latest_change(
    ingested, engine: sa.Engine
) -> None:
    defs = ingested()
    execute(
        engine,
        "UPDATE workers SET reputation = reputation - 1 "
        "WHERE address = (SELECT min(worker_address) FROM reputation_history)",
    )
    evaluations = run_checks(defs)
    assert ("reputation_history", "consistent_with_workers") in failed(evaluations)
    assert ("workers", "matches_contract") in failed(evaluations)


def test_events_check_catches_an_event_on_a_block_hash_the_chain_no_longer_has(
    ingested, engine: sa.Engine
) -> None:
    defs = ingested()
    execute(
        engine,
        "UPDATE contract_events SET block_hash = '0x" + "b" * 64 + "' "
        "WHERE id = (SELECT min(id) FROM contract_events WHERE event_name = 'JobCreated')",
    )
    evaluations = run_checks(defs)
    assert failed(evaluations) == {("contract_events", "consistent_with_cursor")}


def test_checks_job_has_every_check_and_a_running_schedule(defs_for) -> None:
    defs = defs_for(chain_checks_cron="*/7 * * * *")
    job = defs.resolve_job_def(CHECKS_JOB_NAME)
    assert {(k.asset_key, k.name) for k in job.asset_layer.asset_graph.asset_check_keys} == {
        (table_key(t), name) for t, name in ALL_CHECKS
    }
    schedule = defs.resolve_schedule_def(f"{CHECKS_JOB_NAME}_schedule")
    assert schedule.cron_schedule == "*/7 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_checks_warn_while_the_cursor_block_is_reorged_away_and_pass_once_ingested(
    ingested, chain: Driver
) -> None:
    defs = ingested()
    chain.rpc("devchain_reorg", {"depth": 2})  # the cursor's block gets a new hash
    evaluations = run_checks(defs)
    at_cursor = {("workers", "matches_contract"), ("jobs", "matches_contract")}
    at_cursor.add(("jobs", "no_job_id_gaps"))
    assert failed(evaluations) == at_cursor
    assert all(evaluations[k].severity == dg.AssetCheckSeverity.WARN for k in at_cursor)

    ingest(defs)  # the sensor's next tick rolls back and re-applies
    assert failed(run_checks(defs)) == set()
