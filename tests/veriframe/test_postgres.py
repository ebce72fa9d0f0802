"""Starting the embedded PostgreSQL is an explicit step of `up`, `index` and `api`: it says
what it started and where, and stops only what it started."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from veriframe.postgres import running_warehouse
from veriframe_core.settings import Settings
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_core.warehouse.engine import make_engine


def _version(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    finally:
        engine.dispose()


def test_a_command_starts_the_embedded_server_says_where_and_stops_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=None)
    said: list[str] = []
    with running_warehouse(settings, say=said.append) as urls:
        server = urls.embedded
        assert server is not None and server.is_running
        assert _version(urls.warehouse)  # migrated
        assert urls.dagster.endswith(f"/dagster?host={server.socket_dir}")
    assert not server.is_running
    assert said[0].startswith("PostgreSQL: started embedded server (pid ")
    assert str(server.data_dir) in said[0]
    assert said[-1] == f"PostgreSQL: stopped the embedded server in {server.data_dir}"


def test_a_server_already_running_is_used_and_left_running(
    embedded_settings: Settings, embedded_pg: EmbeddedPostgres
) -> None:
    said: list[str] = []
    with running_warehouse(embedded_settings, say=said.append) as urls:
        assert urls.embedded is not None and urls.embedded.pid == embedded_pg.pid
    assert embedded_pg.is_running
    assert said == [
        f"PostgreSQL: using the already running embedded server (pid {embedded_pg.pid}) in "
        f"{embedded_pg.data_dir}, socket {embedded_pg.socket_dir}"
    ]


def test_with_a_database_url_nothing_is_started(warehouse_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=warehouse_url)
    said: list[str] = []
    with running_warehouse(settings, say=said.append) as urls:
        assert urls.warehouse == warehouse_url and urls.embedded is None
    assert said == [] and not (tmp_path / "data").exists()
