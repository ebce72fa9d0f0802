"""Declarative automation end to end, as the daemon runs it: a chain sensor tick (runless
materializations of the chain tables), an activity_days sensor tick, an evaluation of the
automation conditions, and the runs it requests. New events bring the current day and the
scorecard up to date; a reorg that drops a rating recomputes the days it rewrote.

These tests move the package's chain on: they run last (the module sorts last).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.support.chain import Driver
from tests.veriframe_dagster.reputation.history import History, Ledger, record_attempts
from tests.veriframe_dagster.reputation.runs import (
    DAILY_KEYS,
    SCORECARD_KEY,
    failed_checks,
    materialize,
    on_chain_time,
)
from veriframe_core.chain import rules
from veriframe_core.chain.addresses import normalize_address
from veriframe_dagster.defs.chain.sensor import SENSOR_NAME as CHAIN_SENSOR
from veriframe_dagster.defs.reputation.assets import NETWORK_DAYS_KEY, WORKER_DAYS_KEY
from veriframe_dagster.defs.reputation.sensor import SENSOR_NAME as DAYS_SENSOR

Requested = dict[dg.AssetKey, set[str | None]]
NOTHING = {k: set() for k in (*DAILY_KEYS, SCORECARD_KEY)}


class Daemon:
    """The ticks the daemon would run, against the package's instance."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, engine):
        self.defs, self.instance, self.engine = defs, instance, engine
        self.resources = defs.resources
        self.cursors: dict[str, str | None] = {CHAIN_SENSOR: None, DAYS_SENSOR: None}
        self.automation: Any = None

    def tick(self, name: str) -> dg.SensorResult:
        sensor = self.defs.resolve_sensor_def(name)
        with (
            on_chain_time(self.engine),
            dg.build_sensor_context(
                instance=self.instance, resources=self.resources, cursor=self.cursors[name]
            ) as context,
        ):
            result = sensor(context)
        for event in result.asset_events:  # what the daemon does with them
            self.instance.report_runless_asset_event(event)
        self.cursors[name] = result.cursor
        return result

    def evaluate(self) -> Requested:
        with on_chain_time(self.engine) as now:
            result = dg.evaluate_automation_conditions(
                self.defs, self.instance, evaluation_time=now, cursor=self.automation
            )
        self.automation = result.cursor
        keys = (*DAILY_KEYS, SCORECARD_KEY)
        return {k: set(result.get_requested_partitions(k)) for k in keys}

    def run(self, requested: Requested) -> None:
        """The runs the automation sensor requests: the scorecard, and the daily tables' days
        (one run for a range, as their single-run backfill policy makes it)."""
        days = sorted(requested[WORKER_DAYS_KEY] | requested[NETWORK_DAYS_KEY])
        results = []
        if days:
            keys, span = list(DAILY_KEYS), (days[0], days[-1])
            results.append(materialize(self.defs, self.instance, self.engine, keys, days=span))
        if requested[SCORECARD_KEY]:
            results.append(materialize(self.defs, self.instance, self.engine, [SCORECARD_KEY]))
        assert all(failed_checks(r) == set() for r in results)

    def pass_(self) -> Requested:
        """One automated pass: both sensors tick, the conditions are evaluated, the runs run;
        the automation's next evaluation (nothing changed meanwhile) requests nothing more."""
        self.tick(CHAIN_SENSOR)
        self.tick(DAYS_SENSOR)
        requested = self.evaluate()
        self.run(requested)
        assert self.evaluate() == NOTHING
        return requested


@pytest.fixture(scope="module")
def daemon(materialized: Ledger, defs, instance, engine) -> Iterator[Daemon]:
    daemon = Daemon(defs, instance, engine)
    daemon.tick(CHAIN_SENSOR)  # nothing new: the warehouse is caught up
    assert daemon.tick(DAYS_SENSOR).asset_events == []  # history is a backfill's business
    daemon.run(daemon.evaluate())
    yield daemon


def row(engine: sa.Engine, table: str, **key: Any) -> dict[str, Any]:
    where = " AND ".join(f"{k} = :{k}" for k in key)
    with engine.connect() as conn:
        return dict(
            conn.execute(sa.text(f"SELECT * FROM analytics.{table} WHERE {where}"), key)
            .mappings()
            .one()
        )


def status(chain: Driver, worker: str) -> tuple[bool, int, int, int]:
    return tuple(chain.view(chain.registry, "get_worker_status", int(worker, 16)))


def test_nothing_is_requested_while_nothing_changes(daemon: Daemon) -> None:
    assert daemon.pass_() == NOTHING


def test_new_chain_events_bring_the_current_day_and_the_scorecard_up_to_date(
    daemon: Daemon, chain: Driver, ledger: Ledger, engine: sa.Engine
) -> None:
    worker = chain.accounts[6]  # worker 3 of the history
    address = normalize_address(worker.address)
    today = dt.datetime.fromtimestamp(chain.now(), dt.UTC).date().isoformat()
    before = row(engine, "worker_reputation_daily", day=today, worker_address=address)
    History(chain).send(chain.owner, chain.reg("slash_worker_reputation", worker.address, 5))

    requested = daemon.pass_()

    assert requested == {
        WORKER_DAYS_KEY: {today},
        NETWORK_DAYS_KEY: {today},
        SCORECARD_KEY: {None},
    }
    after = row(engine, "worker_reputation_daily", day=today, worker_address=address)
    _, reputation, _, failed = status(chain, address)
    assert after["reputation"] == reputation == before["reputation"] - 5
    assert (after["slash_change"], after["jobs_failed_total"]) == (
        before["slash_change"] - 5,
        failed,
    )
    assert "slash" in after["change_reasons"]
    assert row(engine, "worker_scorecard", worker_address=address)["reputation"] == reputation
    assert daemon.pass_() == NOTHING


def test_an_attempt_ending_brings_its_day_and_the_scorecard_up_to_date(
    daemon: Daemon, chain: Driver, ledger: Ledger, engine: sa.Engine
) -> None:
    job = ledger.jobs[max(ledger.jobs)]  # the job left submitted, created today
    worker = normalize_address(chain.accounts[4].address)
    today = job.created_at.date().isoformat()
    before = row(engine, "worker_reputation_daily", day=today, worker_address=worker)
    card = row(engine, "worker_scorecard", worker_address=worker)
    record_attempts(
        engine,
        [
            {
                "job_id": job.job_id,
                "created_tx": job.created_tx,
                "attempt": 9,
                "worker_address": worker,
                "state": "failed",
                "claimed_at": job.created_at + dt.timedelta(seconds=30),
                "lease_expires_at": job.created_at + dt.timedelta(seconds=630),
                "ended_at": job.created_at + dt.timedelta(seconds=90),
                "result": None,
            }
        ],
    )
    requested = daemon.pass_()
    assert requested[WORKER_DAYS_KEY] == {today} and requested[SCORECARD_KEY] == {None}
    after = row(engine, "worker_reputation_daily", day=today, worker_address=worker)
    assert after["attempts_failed"] == before["attempts_failed"] + 1
    assert row(engine, "worker_scorecard", worker_address=worker)["attempts_failed"] == (
        card["attempts_failed"] + 1
    )


def test_a_reorg_that_drops_a_rating_recomputes_the_days_it_rewrote_and_the_scorecard(
    daemon: Daemon, chain: Driver, ledger: Ledger, engine: sa.Engine
) -> None:
    receipt = chain.rpc(
        "starknet_getTransactionReceipt", {"transaction_hash": ledger.rating_to_drop}
    )
    job = ledger.jobs[ledger.rated_job]
    worker, rated_day = job.worker, job.finalized_at.date()
    # fork at the end of D2: everything after is replayed (new hashes), minus the rating
    fork_day = ledger.days[2]
    fork = ledger.day_end_block[fork_day]
    assert receipt["block_number"] > fork
    network_before = row(engine, "network_daily", day=rated_day)
    day_before = row(engine, "worker_reputation_daily", day=rated_day, worker_address=worker)
    result = chain.rpc(
        "devchain_reorg", {"depth": chain.head() - fork, "drop": [ledger.rating_to_drop]}
    )
    assert [normalize_address(h) for h in result["dropped"]] == [ledger.rating_to_drop]

    requested = daemon.pass_()

    touched = {
        (fork_day + dt.timedelta(days=n)).isoformat()
        for n in range((rated_day - fork_day).days + 1)
    }
    assert requested[WORKER_DAYS_KEY] == touched
    assert requested[NETWORK_DAYS_KEY] == touched
    assert requested[SCORECARD_KEY] == {None}
    _, reputation, completed, _ = status(chain, worker)
    day_row = row(engine, "worker_reputation_daily", day=rated_day, worker_address=worker)
    bonus = next(b for least, b in rules.RATING_BONUSES if least <= 99)  # the dropped 99's
    assert day_row["reputation"] == reputation == day_before["reputation"] - bonus
    assert (day_row["rating_change"], day_row["jobs_completed"], day_row["earnings"]) == (0, 0, 0)
    assert day_row["jobs_completed_total"] == completed
    card = row(engine, "worker_scorecard", worker_address=worker)
    assert card["reputation"] == reputation and card["jobs_completed"] == completed
    network = row(engine, "network_daily", day=rated_day)
    assert network["jobs_finalized"] == network_before["jobs_finalized"] - 1
    assert network["rewards_paid"] == network_before["rewards_paid"] - job.reward
