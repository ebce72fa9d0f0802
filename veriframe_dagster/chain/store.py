"""The warehouse side of ingestion: every statement runs inside the caller's transaction.

Bulk writes COPY into a transaction-scoped staging table and move the rows with one
`INSERT … SELECT … ON CONFLICT` (bench/README.md: several times faster than multi-row
VALUES); small ones use psycopg2's `execute_values`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from psycopg2.extras import execute_values

from veriframe_dagster.chain.projection import (
    JOB_CHAIN_COLUMNS,
    WORKER_CHAIN_COLUMNS,
    StoredEvent,
)
from veriframe_dagster.warehouse.tables import (
    chain_blocks,
    chain_cursor,
    contract_events,
    jobs,
    workers,
)

PAGE = 2000
EVENT_COLUMNS = (
    "contract_address",
    "event_name",
    "block_number",
    "block_hash",
    "block_timestamp",
    "transaction_hash",
    "transaction_index",
    "event_index",
    "job_id",
    "worker_address",
    "keys",
    "data",
    "decoded",
    "context",
)
HISTORY_COLUMNS = (
    "block_hash",
    "transaction_index",
    "event_index",
    "worker_address",
    "job_id",
    "old_reputation",
    "new_reputation",
    "change_amount",
    "reason",
    "quality_score",
    "changed_by",
    "block_number",
    "transaction_hash",
    "changed_at",
)


def _cursor(conn: sa.Connection):
    return conn.connection.dbapi_connection.cursor()


def _json(value: Any) -> str:
    """JSON text for a JSONB column; big integers stay exact numbers (orjson stops at 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))


def insert_events(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> set[tuple]:
    """Insert raw events; returns the natural keys of those that were new (idempotent).

    The rows are COPied into a transaction-scoped staging table first and moved with one
    `INSERT … SELECT … ON CONFLICT DO NOTHING`: several times faster than multi-row VALUES.
    """
    if not rows:
        return set()
    json_columns = {"keys", "data", "decoded", "context"}
    values = (
        [_json(row[c]) if c in json_columns else row[c] for c in EVENT_COLUMNS] for row in rows
    )
    columns = ", ".join(EVENT_COLUMNS)
    with _cursor(conn) as cur:
        staging = _copy_into_staging(cur, "contract_events", EVENT_COLUMNS, values)
        cur.execute(
            f"INSERT INTO contract_events ({columns}) SELECT {columns} FROM {staging} "
            "ON CONFLICT (block_hash, transaction_index, event_index) DO NOTHING "
            "RETURNING block_hash, transaction_index, event_index"
        )
        inserted = cur.fetchall()
        cur.execute(f"DROP TABLE {staging}")
    return {tuple(r) for r in inserted}


def load_workers(conn: sa.Connection, addresses: Iterable[str]) -> dict[str, dict[str, Any]]:
    addresses = list(addresses)
    if not addresses:
        return {}
    columns = [workers.c.address, *(workers.c[c] for c in WORKER_CHAIN_COLUMNS)]
    rows = conn.execute(sa.select(*columns).where(workers.c.address.in_(addresses)))
    return {r.address: {**r._mapping} for r in rows}


def load_jobs(conn: sa.Connection, job_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    job_ids = list(job_ids)
    if not job_ids:
        return {}
    columns = [jobs.c.job_id, *(jobs.c[c] for c in JOB_CHAIN_COLUMNS)]
    rows = conn.execute(sa.select(*columns).where(jobs.c.job_id.in_(job_ids)))
    return {int(r.job_id): {**r._mapping, "job_id": int(r.job_id)} for r in rows}


def _copy_into_staging(cur, table: str, columns: Sequence[str], rows: Iterable[Iterable]) -> str:
    """COPY rows into a transaction-scoped staging twin of `table`; returns its name."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    buffer.seek(0)
    staging = f"staging_{table}"
    names = ", ".join(columns)
    cur.execute(
        f"CREATE TEMP TABLE {staging} ON COMMIT DROP AS SELECT {names} FROM {table} WITH NO DATA"
    )
    cur.copy_expert(f"COPY {staging} ({names}) FROM STDIN WITH (FORMAT csv)", buffer)
    return staging


def _upsert(
    conn: sa.Connection, table: str, key: str, columns: Sequence[str], rows: list[dict], update: str
) -> None:
    """INSERT … ON CONFLICT DO UPDATE of many rows, through a COPY-filled staging table."""
    if not rows:
        return
    all_columns = (key, *columns)
    names = ", ".join(all_columns)
    with _cursor(conn) as cur:
        staging = _copy_into_staging(
            cur, table, all_columns, ([r[c] for c in all_columns] for r in rows)
        )
        cur.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} "
            f"ON CONFLICT ({key}) DO UPDATE SET {update}"
        )
        cur.execute(f"DROP TABLE {staging}")


def upsert_workers(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Write the chain columns of workers; the off-chain profile columns are left alone."""
    update = ", ".join(f"{c} = EXCLUDED.{c}" for c in WORKER_CHAIN_COLUMNS)
    _upsert(conn, "workers", "address", WORKER_CHAIN_COLUMNS, rows, update)


def upsert_jobs(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Write the chain columns of jobs.

    An off-chain claim (`assigned`, `completed`) outranks the chain's `open`/`expired`: only
    a chain event that moves the job further (submitted, finalized) replaces it.
    """
    update = ", ".join(
        f"{c} = EXCLUDED.{c}"
        if c != "status"
        else "status = CASE WHEN EXCLUDED.status IN ('open', 'expired') "
        "AND jobs.status IN ('assigned', 'completed') THEN jobs.status ELSE EXCLUDED.status END"
        for c in JOB_CHAIN_COLUMNS
    )
    _upsert(conn, "jobs", "job_id", JOB_CHAIN_COLUMNS, rows, update)


def delete_jobs(conn: sa.Connection, job_ids: Iterable[int]) -> int:
    job_ids = list(job_ids)
    if not job_ids:
        return 0
    return conn.execute(sa.delete(jobs).where(jobs.c.job_id.in_(job_ids))).rowcount


def delete_unregistered_workers(conn: sa.Connection, addresses: Iterable[str]) -> None:
    """Drop rows of workers with no chain history left, unless the API holds a profile."""
    addresses = list(addresses)
    if addresses:
        conn.execute(
            sa.delete(workers).where(
                workers.c.address.in_(addresses),
                workers.c.capabilities.is_(None),
                workers.c.hardware_specs.is_(None),
                workers.c.contact_info.is_(None),
            )
        )


def insert_history(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with _cursor(conn) as cur:
        execute_values(
            cur,
            f"INSERT INTO reputation_history ({', '.join(HISTORY_COLUMNS)}) VALUES %s "
            "ON CONFLICT (block_hash, transaction_index, event_index) DO NOTHING",
            [tuple(r[c] for c in HISTORY_COLUMNS) for r in rows],
            page_size=PAGE,
        )


def upsert_blocks(conn: sa.Connection, rows: list[tuple[int, str, str, datetime]]) -> None:
    if not rows:
        return
    with _cursor(conn) as cur:
        execute_values(
            cur,
            "INSERT INTO chain_blocks (block_number, block_hash, parent_hash, block_timestamp) "
            "VALUES %s ON CONFLICT (block_number) DO UPDATE SET block_hash = EXCLUDED.block_hash,"
            " parent_hash = EXCLUDED.parent_hash, block_timestamp = EXCLUDED.block_timestamp",
            rows,
            page_size=PAGE,
        )


def prune_blocks(conn: sa.Connection, keep_from: int) -> None:
    """Forget block hashes older than the reorg window (never the cursor's own block)."""
    conn.execute(sa.delete(chain_blocks).where(chain_blocks.c.block_number < keep_from))


def recent_blocks(conn: sa.Connection, up_to: int, limit: int) -> list[tuple[int, str]]:
    rows = conn.execute(
        sa.select(chain_blocks.c.block_number, chain_blocks.c.block_hash)
        .where(chain_blocks.c.block_number <= up_to)
        .order_by(chain_blocks.c.block_number.desc())
        .limit(limit)
    )
    return [(r.block_number, r.block_hash) for r in rows]


def block_time(conn: sa.Connection, number: int) -> datetime | None:
    return conn.execute(
        sa.select(chain_blocks.c.block_timestamp).where(chain_blocks.c.block_number == number)
    ).scalar()


def get_cursor(conn: sa.Connection, contract: str) -> tuple[int, str] | None:
    row = conn.execute(
        sa.select(chain_cursor.c.block_number, chain_cursor.c.block_hash).where(
            chain_cursor.c.contract_address == contract
        )
    ).first()
    return (row.block_number, row.block_hash) if row else None


def set_cursor(conn: sa.Connection, contract: str, number: int, block_hash: str) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO chain_cursor (contract_address, block_number, block_hash, updated_at) "
            "VALUES (:c, :n, :h, now()) ON CONFLICT (contract_address) DO UPDATE SET "
            "block_number = :n, block_hash = :h, updated_at = now()"
        ),
        {"c": contract, "n": number, "h": block_hash},
    )


def sweep_expiry(conn: sa.Connection, chain_time: datetime) -> int:
    """Open jobs past their deadline become expired (and back, should chain time go back)."""
    expired = conn.execute(
        sa.update(jobs)
        .where(jobs.c.status == "open", jobs.c.deadline <= chain_time)
        .values(status="expired")
    ).rowcount
    conn.execute(
        sa.update(jobs)
        .where(jobs.c.status == "expired", jobs.c.deadline > chain_time)
        .values(status="open")
    )
    return expired


def delete_events_after(
    conn: sa.Connection, contract: str, block_number: int
) -> tuple[set[str], set[int], int]:
    """Delete the contract's events after `block_number` (their history rows cascade).

    Returns the workers and jobs those events touched, and how many events went.
    """
    touched = conn.execute(
        sa.select(contract_events.c.worker_address, contract_events.c.job_id).where(
            contract_events.c.contract_address == contract,
            contract_events.c.block_number > block_number,
        )
    ).all()
    deleted = conn.execute(
        sa.delete(contract_events).where(
            contract_events.c.contract_address == contract,
            contract_events.c.block_number > block_number,
        )
    ).rowcount
    conn.execute(sa.delete(chain_blocks).where(chain_blocks.c.block_number > block_number))
    worker_set = {w for w, _ in touched if w is not None}
    job_set = {int(j) for _, j in touched if j is not None}
    return worker_set, job_set, deleted


def events_touching(
    conn: sa.Connection, contract: str, addresses: set[str], job_ids: set[int]
) -> list[StoredEvent]:
    """Every stored event about these workers or jobs, in chain order."""
    if not addresses and not job_ids:
        return []
    c = contract_events.c
    rows = conn.execute(
        sa.select(
            c.event_name,
            c.decoded,
            c.context,
            c.block_number,
            c.block_hash,
            c.block_timestamp,
            c.transaction_hash,
            c.transaction_index,
            c.event_index,
        )
        .where(
            c.contract_address == contract,
            sa.or_(c.worker_address.in_(list(addresses)), c.job_id.in_(list(job_ids))),
        )
        .order_by(c.block_number, c.transaction_index, c.event_index)
    )
    return [StoredEvent(**r._mapping) for r in rows]
