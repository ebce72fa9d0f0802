"""Alembic on the warehouse: from code, from the CLI, concurrently, without drift; a
revision that fills what it adds."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_core.warehouse.engine import make_engine
from veriframe_core.warehouse.migrate import ALEMBIC_INI, alembic_config, upgrade_warehouse
from veriframe_core.warehouse.tables import metadata

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def _version(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_upgrade_head_from_any_directory(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    upgrade_warehouse(warehouse_url)  # already at head: a no-op
    assert HEAD is not None
    assert _version(warehouse_url) == HEAD


def test_schema_matches_the_models(warehouse_url: str) -> None:
    engine = make_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diff == [], "models and migrations differ; add an Alembic revision"


def test_cli_takes_the_database_from_settings(
    embedded_pg: EmbeddedPostgres, veriframe_data_dir: Path, tmp_path: Path
) -> None:
    embedded_pg.ensure_database("cli_warehouse")
    env = {
        **os.environ,
        "VERIFRAME_DATA_DIR": str(veriframe_data_dir),
        "VERIFRAME_WAREHOUSE_DB_NAME": "cli_warehouse",
    }
    env.pop("VERIFRAME_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "upgrade", "head"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert _version(embedded_pg.url("cli_warehouse")) == HEAD
    assert embedded_pg.is_running  # the CLI process adopted the server and left it running


def test_concurrent_upgrades_migrate_once(embedded_pg: EmbeddedPostgres) -> None:
    embedded_pg.ensure_database("raced_warehouse")
    url = embedded_pg.url("raced_warehouse")
    command = [
        sys.executable,
        "-c",
        f"from {upgrade_warehouse.__module__} import upgrade_warehouse; upgrade_warehouse({url!r})",
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(
                lambda _: subprocess.run(command, capture_output=True, text=True, timeout=120),
                range(2),
            )
        )
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert rows == [(HEAD,)]


def _insert_row(conn: sa.Connection, table: str, **given: object) -> None:
    """A row of `analytics.<table>` as its schema stands: `given`, and a neutral value of
    each other column it requires."""
    reflected = sa.Table(table, sa.MetaData(), schema="analytics", autoload_with=conn)
    neutral = {sa.Boolean: False, sa.ARRAY: [], sa.DateTime: dt.datetime.now(dt.UTC)}
    row = {}
    for column in reflected.columns:
        if column.name in given or column.nullable:
            continue
        kind = next((v for k, v in neutral.items() if isinstance(column.type, k)), 0)
        row[column.name] = kind
    conn.execute(reflected.insert().values(**row, **given))


def test_0013_counts_the_verdicts_of_the_days_already_written(
    embedded_pg: EmbeddedPostgres,
) -> None:
    embedded_pg.ensure_database("days_before_0013")
    url = embedded_pg.url("days_before_0013")
    upgrade_warehouse(url, "0012")
    day = dt.date(2026, 12, 1)
    noon = dt.datetime.combine(day, dt.time(12), dt.UTC)
    worker, other = "0x" + "1" * 64, "0x" + "2" * 64
    verification = sa.text(
        "INSERT INTO verifications (job_id, worker_address, result_cid, source, state, windows, "
        "seeds, created_at, finished_at) VALUES (1, :w, 'Qm', :source, :state, '[]', '[]', "
        ":opened, :decided) RETURNING id"
    )
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for w in (worker, other):
                _insert_row(conn, "worker_reputation_daily", day=day, worker_address=w)
            _insert_row(conn, "network_daily", day=day)
            verdicts = [  # (worker, source, state, seconds from delivery to verdict)
                (worker, "delivery", "verified", 10),
                (worker, "delivery", "rejected", 30),
                (other, "delivery", "verified", 20),
                (worker, "chain", "rejected", 500),
                (worker, "delivery", "open", None),
            ]
            ids = [
                conn.execute(
                    verification,
                    {
                        "w": w,
                        "source": source,
                        "state": state,
                        "opened": noon,
                        "decided": noon + dt.timedelta(seconds=s) if s is not None else None,
                    },
                ).scalar_one()
                for w, source, state, s in verdicts
            ]
            for action, outcome in [("verify_worker", "sent"), ("slash", "failed")]:
                conn.execute(
                    sa.text(
                        "INSERT INTO sanctions (worker_address, verification_id, job_id, cause, "
                        "action, outcome, created_at) VALUES (:w, :v, 1, "
                        "'forged result on chain', :action, :outcome, :at)"
                    ),
                    {"w": worker, "v": ids[3], "action": action, "outcome": outcome, "at": noon},
                )
        upgrade_warehouse(url, "0013")
        counts = "deliveries_verified, deliveries_rejected, results_rejected_on_chain, sanctions"
        with engine.connect() as conn:
            workers = conn.execute(
                sa.text(
                    f"SELECT worker_address, {counts} FROM analytics.worker_reputation_daily "
                    "ORDER BY 1"
                )
            ).all()
            network = conn.execute(
                sa.text(f"SELECT {counts}, median_seconds_to_verdict FROM analytics.network_daily")
            ).one()
    finally:
        engine.dispose()
    assert [tuple(r) for r in workers] == [(worker, 1, 1, 1, 1), (other, 1, 0, 0, 0)]
    assert tuple(network) == (2, 1, 1, 1, 20.0)
    command.downgrade(alembic_config(url), "0012")  # and back
    upgrade_warehouse(url, "0013")
