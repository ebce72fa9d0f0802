"""Alembic environment of the warehouse: which database, which schema, one migrator at a time.

The URL is the config's ``sqlalchemy.url`` when set (``upgrade_warehouse`` sets it), else the
settings' warehouse (which may start the embedded server). A caller may also hand over an
open connection in ``config.attributes["connection"]``. Migrations hold a Postgres advisory
lock, so the API and Dagster starting together never migrate twice.
"""

from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context
from sqlalchemy.pool import NullPool

from veriframe_core.warehouse.tables import metadata
from veriframe_core.warehouse.urls import psycopg2_url

MIGRATION_LOCK = 7_246_010_002
"""Advisory lock key held for the duration of a migration run."""

config = context.config

# The CLI gets alembic.ini's logging; a host process (API, Dagster) keeps its own.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from veriframe_core.settings import get_settings
    from veriframe_core.warehouse.urls import resolve_database_urls

    return resolve_database_urls(get_settings()).warehouse


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade --sql``) instead of touching a database."""
    context.configure(
        url=psycopg2_url(database_url()),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = sa.create_engine(psycopg2_url(database_url()), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            _migrate(connection)
    finally:
        engine.dispose()


def _migrate(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
