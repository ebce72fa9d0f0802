"""Checks against the contract, read at the warehouse's cursor block: a spot check of random
workers and jobs, and no gaps in job ids up to the contract's counter."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.chain.assets import table_key
from veriframe_dagster.defs.chain.checks.snapshot import (
    SAMPLE_LIMIT,
    chain_reader,
    cursor_gone,
    read_cursor,
    snapshot,
)
from veriframe_dagster.resources import ChainChecksResource, ChainResource, WarehouseResource

if TYPE_CHECKING:
    from veriframe_core.chain.views import ChainReader

Compare = Callable[["ChainReader", list[sa.Row], str], list[dict[str, Any]]]
"""Compares sampled warehouse rows with the contract's views at a block; returns mismatches."""


def _spot_check(
    warehouse: WarehouseResource,
    chain: ChainResource,
    size: int,
    sample_sql: str,
    compare: Compare,
) -> dg.AssetCheckResult:
    """Sample rows at the cursor, read the chain's views at the cursor block, compare."""
    reader, contract, _ = chain_reader(chain)
    with snapshot(warehouse) as conn:
        cursor = read_cursor(conn, contract)
        rows = list(conn.execute(sa.text(sample_sql), {"k": size}))
    if cursor is None:
        return dg.AssetCheckResult(
            passed=True, description="nothing ingested yet", metadata={"sampled": 0}
        )
    try:
        mismatches = compare(reader, rows, cursor.block_hash)
    except Exception as err:
        gone = cursor_gone(cursor, err)
        if gone is None:
            raise
        return gone
    return dg.AssetCheckResult(
        passed=not mismatches,
        description=f"{len(mismatches)} of {len(rows)} sampled rows differ from the contract "
        f"at block {cursor.block_number}",
        metadata={
            "cursor_block": cursor.block_number,
            "sampled": len(rows),
            "mismatches": len(mismatches),
            "mismatched_rows": dg.MetadataValue.json(mismatches[:SAMPLE_LIMIT]),
        },
    )


def _differences(warehouse_row: dict[str, Any], chain_row: dict[str, Any]) -> dict[str, Any]:
    return {
        field: {"warehouse": warehouse_row[field], "chain": value}
        for field, value in chain_row.items()
        if warehouse_row[field] != value
    }


def compare_workers(reader: ChainReader, rows: list[sa.Row], block_hash: str) -> list[dict]:
    statuses = reader.worker_statuses([r.address for r in rows], block_hash)
    mismatches = []
    for row, status in zip(rows, statuses, strict=True):
        chain_row = {
            "verified": status.verified,
            "reputation": status.reputation,
            "jobs_completed": status.jobs_completed,
            "jobs_failed": status.jobs_failed,
        }
        diff = _differences(dict(row._mapping), chain_row)
        if diff:
            mismatches.append({"address": row.address, **diff})
    return mismatches


def compare_jobs(reader: ChainReader, rows: list[sa.Row], block_hash: str) -> list[dict]:
    """The chain's worker is set by `submit_result` (the warehouse's `submitted_block`), not
    by an off-chain claim; `is_job_completed` means the warehouse status `finalized`."""
    from veriframe_core.chain.addresses import normalize_address

    states = reader.job_states([int(r.job_id) for r in rows], block_hash)
    mismatches = []
    for row, state in zip(rows, states, strict=True):
        warehouse_row = {
            "worker": row.worker_address if row.submitted_block is not None else None,
            "completed": row.status == "finalized",
        }
        chain_row = {
            "worker": normalize_address(state.worker) if state.worker else None,
            "completed": state.completed,
        }
        diff = _differences(warehouse_row, chain_row)
        if diff:
            mismatches.append({"job_id": int(row.job_id), "status": row.status, **diff})
    return mismatches


@dg.asset_check(
    asset=table_key("workers"),
    name="matches_contract",
    description="A random sample of workers equals `get_worker_status` (verified, reputation, "
    "jobs completed and failed) at the warehouse's cursor block.",
)
def workers_match_contract(
    warehouse: WarehouseResource, chain: ChainResource, chain_checks: ChainChecksResource
) -> dg.AssetCheckResult:
    return _spot_check(
        warehouse,
        chain,
        chain_checks.spot_check_size,
        "SELECT address, verified, reputation, jobs_completed, jobs_failed "
        "FROM workers ORDER BY random() LIMIT :k",
        compare_workers,
    )


@dg.asset_check(
    asset=table_key("jobs"),
    name="matches_contract",
    description="A random sample of jobs agrees with `get_job_worker` and `is_job_completed` "
    "at the warehouse's cursor block.",
)
def jobs_match_contract(
    warehouse: WarehouseResource, chain: ChainResource, chain_checks: ChainChecksResource
) -> dg.AssetCheckResult:
    return _spot_check(
        warehouse,
        chain,
        chain_checks.spot_check_size,
        "SELECT job_id, status, worker_address, submitted_block "
        "FROM jobs ORDER BY random() LIMIT :k",
        compare_jobs,
    )


# ---------------------------------------------------------------------- job ids
GAPS_SQL = """
SELECT prev + 1 AS first_missing, job_id - 1 AS last_missing
FROM (SELECT job_id, lag(job_id) OVER (ORDER BY job_id) AS prev FROM jobs) AS j
WHERE job_id - prev > 1 ORDER BY job_id LIMIT :limit
"""


def job_id_gaps(
    conn: sa.Connection, first: int | None, last: int | None
) -> tuple[int, list[list[int]]]:
    """How many ids are missing between `first` and `last` (default: the lowest and highest
    stored ids), and the first missing ranges as [first_missing, last_missing] pairs."""
    low, high = conn.execute(sa.text("SELECT min(job_id), max(job_id) FROM jobs")).one()
    if low is None:
        if first is None or last is None or first > last:
            return 0, []
        return last - first + 1, [[first, last]]
    low, high = int(low), int(high)
    first = low if first is None else first
    last = high if last is None else last
    stored = conn.execute(
        sa.text("SELECT count(*) FROM jobs WHERE job_id BETWEEN :a AND :b"), {"a": first, "b": last}
    ).scalar_one()
    missing = max(last - first + 1, 0) - stored
    gaps = [[int(a), int(b)] for a, b in conn.execute(sa.text(GAPS_SQL), {"limit": SAMPLE_LIMIT})]
    if first < low:
        gaps.insert(0, [first, low - 1])
    if last > high:
        gaps.append([high + 1, last])
    return missing, gaps


@dg.asset_check(
    asset=table_key("jobs"),
    name="no_job_id_gaps",
    description="Job ids are sequential from 1: every id up to the contract's "
    "`get_job_counter` at the cursor block is in `jobs`, and none beyond it.",
)
def jobs_have_no_gaps(warehouse: WarehouseResource, chain: ChainResource) -> dg.AssetCheckResult:
    reader, contract, start_block = chain_reader(chain)
    with snapshot(warehouse) as conn:
        cursor = read_cursor(conn, contract)
        counter = None
        if cursor is not None:
            try:
                counter = reader.job_counter(cursor.block_hash)
            except Exception as err:
                gone = cursor_gone(cursor, err)
                if gone is None:
                    raise
                return gone
        # jobs created before a non-zero start block are legitimately absent
        missing, gaps = job_id_gaps(conn, 1 if start_block == 0 else None, counter)
        beyond = 0
        if counter is not None:
            beyond = conn.execute(
                sa.text("SELECT count(*) FROM jobs WHERE job_id > :c"), {"c": counter}
            ).scalar_one()
    return dg.AssetCheckResult(
        passed=not missing and not beyond,
        description=f"{missing} job ids missing, {beyond} beyond the contract's counter",
        metadata={
            "job_counter": counter,
            "missing_ids": missing,
            "gaps": dg.MetadataValue.json(gaps[:SAMPLE_LIMIT]),
            "ids_beyond_counter": beyond,
        },
    )
