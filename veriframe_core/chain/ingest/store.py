"""The warehouse side of ingestion: every statement runs inside the caller's transaction.

Bulk writes go through COPY in text format, built by the ingestor while the previous batch is
written: raw events and reputation history straight into their tables (nothing is stored after
the cursor, so they cannot conflict), upserts through a transaction-scoped staging table and
one `INSERT … SELECT … ON CONFLICT` (bench/README.md). Small writes use `execute_values`.
"""

from __future__ import annotations

import io
import operator
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa
from psycopg2.extras import execute_values

from veriframe_core.chain.ingest.projection import (
    JOB_CHAIN_COLUMNS,
    WORKER_CHAIN_COLUMNS,
    StoredEvent,
)
from veriframe_core.warehouse.tables import (
    chain_blocks,
    chain_cursor,
    contract_events,
    jobs,
    workers,
)

PAGE = 2000


class EventLine(NamedTuple):
    """A `contract_events` row as COPY text values: its fields are the COPY columns, in order."""

    contract_address: str
    event_name: str
    block_number: str
    block_hash: str
    block_timestamp: str
    transaction_hash: str
    transaction_index: str
    event_index: str
    job_id: str
    worker_address: str
    keys: str
    data: str
    decoded: str
    context: str

    def text(self) -> str:
        return "\t".join(self) + "\n"


EVENT_COLUMNS = EventLine._fields
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


_JSON_KEYS: dict[str, str] = {}  # '"name":' of member names seen (a contract has few)


def _json_scalar(value: Any) -> str:
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is str and value.isalnum():  # hex felts and names need no escaping
        return f'"{value}"'
    if kind is dict or kind is list or kind is tuple:
        return json_text(value)
    return orjson.dumps(value).decode()


def json_text(value: Any) -> str:
    """JSON text for a JSONB column. Integers of any size stay exact numbers (orjson stops at
    64 bits; felts and u256 go up to 256), so objects are written here."""
    kind = type(value)
    if kind is dict:
        parts = []
        for key, member in value.items():
            prefix = _JSON_KEYS.get(key)
            if prefix is None:
                prefix = _JSON_KEYS.setdefault(key, orjson.dumps(key).decode() + ":")
            parts.append(prefix + _json_scalar(member))
        return "{" + ",".join(parts) + "}"
    if kind is list or kind is tuple:
        try:
            return orjson.dumps(value).decode()
        except TypeError:  # a big integer inside
            return "[" + ",".join([_json_scalar(v) for v in value]) + "]"
    return _json_scalar(value)


def json_copy_text(value: Any) -> str:
    """JSON text escaped for COPY's text format (JSON has no raw control characters)."""
    text = json_text(value)
    return text.replace("\\", "\\\\") if "\\" in text else text


COPY_NULL = "\\N"
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: str) -> str:
    """A text value escaped for COPY's text format."""
    return value.translate(_COPY_ESCAPES) if "\\" in value or not value.isprintable() else value


def copy_lines(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as COPY text-format lines (None → NULL, datetimes as ISO 8601, JSON for dicts)."""
    times: dict[datetime, str] = {}  # a batch's rows share their blocks' timestamps

    def timestamp(value: datetime) -> str:
        found = times.get(value)
        if found is None:
            found = times[value] = value.isoformat()
        return found

    by_type: dict[type, Callable[[Any], str]] = {
        int: int.__str__,
        str: copy_text,
        type(None): lambda _: COPY_NULL,
        bool: lambda value: "t" if value else "f",
        datetime: timestamp,
        dict: json_copy_text,
        list: json_copy_text,
        Decimal: str,
        float: repr,
    }
    values = operator.itemgetter(*columns) if len(columns) > 1 else lambda row: (row[columns[0]],)
    lines = []
    for row in rows:
        lines.append("\t".join([by_type[type(v)](v) for v in values(row)]))
    return "\n".join(lines) + "\n" if lines else ""


def copy_into(cur, table: str, columns: Sequence[str], text: str) -> None:
    """COPY text-format lines into `table`, handed over in one read: psycopg2 takes the GIL
    for every chunk it reads, and the ingestor's other thread is busy decoding."""
    if text:
        data = text.encode()
        cur.copy_expert(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN", io.BytesIO(data), size=len(data)
        )


def insert_events(conn: sa.Connection, text: str) -> None:
    """Append raw events (COPY lines in `EVENT_COLUMNS` order). Only events after the cursor
    are ever written, and nothing is stored after the cursor: a duplicate is a bug and fails."""
    with _cursor(conn) as cur:
        copy_into(cur, "contract_events", EVENT_COLUMNS, text)


def last_event_block(conn: sa.Connection, contract: str) -> int | None:
    """The newest block the contract has stored events of."""
    return conn.execute(
        sa.select(sa.func.max(contract_events.c.block_number)).where(
            contract_events.c.contract_address == contract
        )
    ).scalar()


def _ints(row: sa.Row) -> dict[str, Any]:
    """A row with its NUMERIC values as ints (Decimal arithmetic rounds past 28 digits)."""
    return {k: int(v) if isinstance(v, Decimal) else v for k, v in row._mapping.items()}


def load_workers(conn: sa.Connection, addresses: Iterable[str]) -> dict[str, dict[str, Any]]:
    addresses = list(addresses)
    if not addresses:
        return {}
    columns = [workers.c.address, *(workers.c[c] for c in WORKER_CHAIN_COLUMNS)]
    rows = conn.execute(sa.select(*columns).where(workers.c.address.in_(addresses)))
    return {r.address: _ints(r) for r in rows}


def load_jobs(conn: sa.Connection, job_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    job_ids = list(job_ids)
    if not job_ids:
        return {}
    columns = [jobs.c.job_id, *(jobs.c[c] for c in JOB_CHAIN_COLUMNS)]
    rows = conn.execute(sa.select(*columns).where(jobs.c.job_id.in_(job_ids)))
    return {int(r.job_id): _ints(r) for r in rows}


JOB_COLUMNS = ("job_id", *JOB_CHAIN_COLUMNS)
WORKER_COLUMNS = ("address", *WORKER_CHAIN_COLUMNS)


def job_lines(rows: Iterable[dict[str, Any]]) -> str:
    """Job rows as COPY lines for `insert_jobs` and `upsert_jobs`."""
    return copy_lines(rows, JOB_COLUMNS)


def worker_lines(rows: Iterable[dict[str, Any]]) -> str:
    """Worker rows as COPY lines for `upsert_workers`."""
    return copy_lines(rows, WORKER_COLUMNS)


def history_lines(rows: Iterable[dict[str, Any]]) -> str:
    """Reputation history rows as COPY lines for `insert_history`."""
    return copy_lines(rows, HISTORY_COLUMNS)


def _upsert(
    conn: sa.Connection, table: str, columns: Sequence[str], lines: str, update: str
) -> None:
    """INSERT … ON CONFLICT (first column) DO UPDATE of COPY lines, through a staging table."""
    if not lines:
        return
    names = ", ".join(columns)
    staging = f"staging_{table}"
    with _cursor(conn) as cur:
        cur.execute(
            f"CREATE TEMP TABLE {staging} ON COMMIT DROP AS "
            f"SELECT {names} FROM {table} WITH NO DATA"
        )
        copy_into(cur, staging, columns, lines)
        cur.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} "
            f"ON CONFLICT ({columns[0]}) DO UPDATE SET {update}"
        )
        cur.execute(f"DROP TABLE {staging}")


def upsert_workers(conn: sa.Connection, lines: str) -> None:
    """Write the chain columns of workers; the off-chain profile columns are left alone."""
    update = ", ".join(f"{c} = EXCLUDED.{c}" for c in WORKER_CHAIN_COLUMNS)
    _upsert(conn, "workers", WORKER_COLUMNS, lines, update)


def insert_jobs(conn: sa.Connection, lines: str) -> None:
    """Append jobs created after the cursor (none is stored yet: see insert_events)."""
    with _cursor(conn) as cur:
        copy_into(cur, "jobs", JOB_COLUMNS, lines)


def upsert_jobs(conn: sa.Connection, lines: str) -> None:
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
    _upsert(conn, "jobs", JOB_COLUMNS, lines, update)


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


def insert_history(conn: sa.Connection, lines: str) -> None:
    """Append reputation history (its events are new: no conflicts, see insert_events)."""
    with _cursor(conn) as cur:
        copy_into(cur, "reputation_history", HISTORY_COLUMNS, lines)


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


def newest_block_time(conn: sa.Connection) -> datetime | None:
    """The chain time of the newest block the warehouse keeps."""
    return conn.execute(sa.select(sa.func.max(chain_blocks.c.block_timestamp))).scalar()


def get_cursor(conn: sa.Connection, contract: str) -> tuple[int, str] | None:
    row = conn.execute(
        sa.select(chain_cursor.c.block_number, chain_cursor.c.block_hash).where(
            chain_cursor.c.contract_address == contract
        )
    ).first()
    return (row.block_number, row.block_hash) if row else None


def delete_cursor(conn: sa.Connection, contract: str) -> None:
    conn.execute(sa.delete(chain_cursor).where(chain_cursor.c.contract_address == contract))


def set_cursor(conn: sa.Connection, contract: str, number: int, block_hash: str) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO chain_cursor (contract_address, block_number, block_hash, updated_at) "
            "VALUES (:c, :n, :h, now()) ON CONFLICT (contract_address) DO UPDATE SET "
            "block_number = :n, block_hash = :h, updated_at = now()"
        ),
        {"c": contract, "n": number, "h": block_hash},
    )


def sweep_expiry(conn: sa.Connection, chain_time: datetime) -> tuple[list[int], list[int]]:
    """Open jobs past their deadline become expired (and back, should chain time go back).

    Returns the ids of the jobs that expired and of those reopened (for the change feed).
    """
    expired = conn.execute(
        sa.update(jobs)
        .where(jobs.c.status == "open", jobs.c.deadline <= chain_time)
        .values(status="expired")
        .returning(jobs.c.job_id)
    ).scalars()
    expired_ids = [int(j) for j in expired]
    reopened = conn.execute(
        sa.update(jobs)
        .where(jobs.c.status == "expired", jobs.c.deadline > chain_time)
        .values(status="open")
        .returning(jobs.c.job_id)
    ).scalars()
    return expired_ids, [int(j) for j in reopened]


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
