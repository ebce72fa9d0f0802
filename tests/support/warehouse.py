"""Fresh warehouses on the test server, ingestors into them, and what to compare them by."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tests.support.activity import CIDS
from tests.support.chain import Driver
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.chain.cids import felts_to_cid
from veriframe_core.chain.ingest import ChainIngestor, IngestTarget
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_core.warehouse.engine import make_engine
from veriframe_core.warehouse.migrate import upgrade_warehouse

_db_names = itertools.count()


def fresh_warehouse_url(embedded_pg: EmbeddedPostgres, prefix: str = "warehouse") -> str:
    """The URL of a new, migrated warehouse database on the test server."""
    name = f"{prefix}_{next(_db_names)}"
    embedded_pg.ensure_database(name)
    url = embedded_pg.url(name)
    upgrade_warehouse(url)
    return url


def fresh_warehouse(embedded_pg: EmbeddedPostgres) -> sa.Engine:
    """A new, migrated warehouse database on the test server."""
    return make_engine(fresh_warehouse_url(embedded_pg))


def ingestor(engine: sa.Engine, driver: Driver, url: str | None = None, **kwargs) -> ChainIngestor:
    """An ingestor of the driver's registry (small batches, so ticks cross several)."""
    target = IngestTarget(url or driver.url, driver.registry.address, 0)
    return ChainIngestor(engine, target, **{"batch_events": 13, **kwargs})


SNAPSHOT_EXCLUDE = {
    "contract_events": {"id", "ingested_at"},
    "reputation_history": {"id"},
    "chain_cursor": {"updated_at"},
    "jobs": {"indexed_at"},
}
SNAPSHOT_ORDER = {
    "contract_events": "block_number, transaction_index, event_index",
    "reputation_history": "block_number, transaction_index, event_index",
    "workers": "address",
    "jobs": "job_id",
    "chain_cursor": "contract_address",
}


def snapshot(engine: sa.Engine) -> dict[str, list[dict[str, Any]]]:
    """Every derived table's rows (minus surrogate ids and ingestion times), in a stable order."""
    out = {}
    with engine.connect() as conn:
        for table, order in SNAPSHOT_ORDER.items():
            rows = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}")).mappings()
            out[table] = [
                {k: v for k, v in row.items() if k not in SNAPSHOT_EXCLUDE.get(table, ())}
                for row in rows
            ]
    return out


def assert_tables_match_contract(
    driver: Driver, engine: sa.Engine, *, result_cids: bool = True
) -> None:
    """Every job and every worker row equals what the contract's views say, field by field
    (and, with `result_cids`, submitted jobs carry the result CID the worker sent)."""
    with engine.connect() as conn:
        jobs = {int(r.job_id): r for r in conn.execute(sa.text("SELECT * FROM jobs"))}
        workers = {r.address: r for r in conn.execute(sa.text("SELECT * FROM workers"))}
    counter = driver.view(driver.registry, "get_job_counter")
    assert sorted(jobs) == list(range(1, counter + 1))
    for job_id, row in jobs.items():

        def view(fn: str, job_id: int = job_id) -> Any:
            return driver.view(driver.registry, fn, job_id)

        assert row.creator_address == normalize_address(view("get_job_creator"))
        assert int(row.reward_amount) == view("get_job_reward")
        part1, part2 = view("get_job_asset_cid")
        assert (int(row.asset_cid_part1), int(row.asset_cid_part2)) == (part1, part2)
        assert row.asset_cid == felts_to_cid(part1, part2)
        assert row.deadline == datetime.fromtimestamp(view("get_job_deadline"), tz=UTC)
        assert row.min_reputation == view("get_minimum_reputation_for_job")
        worker = view("get_job_worker")
        assert row.worker_address == (normalize_address(worker) if worker else None)
        assert (row.status == "finalized") == view("is_job_completed")
        if row.status == "submitted" and result_cids:
            assert row.result_cid in CIDS
    for account in driver.accounts:
        address = normalize_address(account.address)
        verified, reputation, completed, failed = driver.view(
            driver.registry, "get_worker_status", account.address
        )
        row = workers.get(address)
        if row is None:
            assert reputation == 0, f"worker {address} missing from the warehouse"
            continue
        assert (row.verified, row.reputation, row.jobs_completed, row.jobs_failed) == (
            verified,
            reputation,
            completed,
            failed,
        ), address
