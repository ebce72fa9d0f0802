"""Alembic on the warehouse: from code, from the CLI, concurrently, without drift."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
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
