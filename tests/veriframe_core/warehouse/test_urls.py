"""Resolving the warehouse and Dagster URLs: embedded by default, configured otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from veriframe_core.settings import Settings
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_core.warehouse.engine import make_engine
from veriframe_core.warehouse.urls import (
    WarehouseNotRunning,
    dagster_url,
    psycopg2_url,
    resolve_database_urls,
    shown_url,
)


def _current_database(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.text("SELECT current_database()"))
    finally:
        engine.dispose()


def test_embedded_default_gives_two_working_urls(
    embedded_settings: Settings, embedded_pg: EmbeddedPostgres
) -> None:
    urls = resolve_database_urls(embedded_settings)

    assert urls.embedded is not None
    assert urls.embedded.pid == embedded_pg.pid  # adopted, not a second server
    assert urls.warehouse.startswith("postgresql+psycopg2://postgres@/veriframe?host=")
    assert urls.dagster.startswith("postgresql+psycopg2://postgres@/dagster?host=")
    assert _current_database(urls.warehouse) == "veriframe"
    assert _current_database(urls.dagster) == "dagster"


def test_configured_url_is_used_with_psycopg2() -> None:
    settings = Settings(
        database_url="postgresql://vf:p%40ss@db.example:6543/warehouse",
        dagster_database_url=None,
        dagster_db_name="dagster_storage",
    )
    urls = resolve_database_urls(settings)

    assert urls.embedded is None
    assert urls.warehouse == "postgresql+psycopg2://vf:p%40ss@db.example:6543/warehouse"
    assert urls.dagster == "postgresql+psycopg2://vf:p%40ss@db.example:6543/dagster_storage"


def test_explicit_dagster_url_is_forced_to_psycopg2() -> None:
    settings = Settings(
        database_url="postgresql+psycopg2://vf@db.example/warehouse",
        dagster_database_url="postgresql+psycopg://dg@other.example/dg",
    )
    urls = resolve_database_urls(settings)

    assert urls.warehouse == "postgresql+psycopg2://vf@db.example/warehouse"
    assert urls.dagster == "postgresql+psycopg2://dg@other.example/dg"


def test_url_normalisation() -> None:
    assert psycopg2_url("postgres://u@h/d") == "postgresql+psycopg2://u@h/d"
    assert psycopg2_url("postgresql+asyncpg://u@h/d") == "postgresql+asyncpg://u@h/d"
    assert dagster_url("postgresql+psycopg2://u@h/d") == "postgresql+psycopg2://u@h/d"
    with pytest.raises(ValueError, match="PostgreSQL"):
        dagster_url("sqlite:///dagster.db")


def test_engine_accepts_a_bare_postgresql_url(embedded_pg: EmbeddedPostgres) -> None:
    # SQLAlchemy 2.1 would pick psycopg 3 (not installed) for a bare postgresql:// URL.
    bare = embedded_pg.url("postgres", driver="")
    assert bare.startswith("postgresql://")
    assert _current_database(bare) == "postgres"


def test_resolving_without_a_running_server_starts_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=None)
    with pytest.raises(WarehouseNotRunning, match="veriframe up") as error:
        resolve_database_urls(settings)
    assert "VERIFRAME_DATABASE_URL" in str(error.value)
    assert not (tmp_path / "data").exists()


def test_urls_are_shown_without_their_password() -> None:
    shown = shown_url("postgresql+psycopg2://vf:hunter2@db.example/warehouse")
    assert "hunter2" not in shown and shown.startswith("postgresql+psycopg2://vf:***@db.example")
