"""Where the warehouse and Dagster's storage live: embedded by default, or configured URLs.

SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which the project does not
install and which breaks dagster-postgres (its ``NOTIFY`` with a bound parameter fails under
server-side binding). Every URL handed out here therefore names the psycopg2 driver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL, make_url

from veriframe_core.settings import Settings

if TYPE_CHECKING:  # the embedded server's wheel is the `local` extra: imported when used
    from pathlib import Path

    from veriframe_core.warehouse.embedded import EmbeddedPostgres

PSYCOPG2 = "postgresql+psycopg2"
_BARE_POSTGRES = {"postgresql", "postgres"}


class WarehouseNotRunning(RuntimeError):
    """No database URL is set and the embedded server is not running."""


@dataclass(frozen=True)
class DatabaseUrls:
    """The two databases the platform uses, and the embedded server when they are on it."""

    warehouse: str
    dagster: str
    embedded: EmbeddedPostgres | None = None


def resolve_database_urls(settings: Settings) -> DatabaseUrls:
    """URLs of the warehouse and Dagster databases. Pure: nothing is started or created.

    With no ``database_url`` they are on the embedded server under ``settings.postgres_dir``,
    which must be running: the commands that own it (`veriframe up`, `index`, `api`) start it
    first (`veriframe.postgres`). Otherwise WarehouseNotRunning says so.
    """
    if settings.database_url is None:
        server = running_server(settings.postgres_dir)
        dagster = settings.dagster_database_url or server.url(settings.dagster_db_name)
        return DatabaseUrls(
            warehouse=server.url(settings.warehouse_db_name),
            dagster=dagster_url(dagster),
            embedded=server,
        )
    warehouse = psycopg2_url(settings.database_url)
    dagster = settings.dagster_database_url or with_database(warehouse, settings.dagster_db_name)
    return DatabaseUrls(warehouse=warehouse, dagster=dagster_url(dagster))


def dagster_storage_url(settings: Settings, warehouse: URL) -> str:
    """Dagster's storage of the deployment whose warehouse is at `warehouse`: the same rule
    as `resolve_database_urls`, for a process handed the warehouse's URL alone (the API)."""
    url = warehouse.render_as_string(hide_password=False)
    return dagster_url(
        settings.dagster_database_url or with_database(url, settings.dagster_db_name)
    )


def running_server(postgres_dir: Path) -> EmbeddedPostgres:
    """The embedded server in `postgres_dir`, which must be running (nothing is started)."""
    from veriframe_core.warehouse.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(postgres_dir)
    if not server.is_running:
        raise WarehouseNotRunning(
            f"no VERIFRAME_DATABASE_URL is set and the embedded PostgreSQL in "
            f"{server.data_dir} is not running: start the platform with `veriframe up` "
            "(or `veriframe api` / `veriframe index`, which start it too), or set "
            "VERIFRAME_DATABASE_URL"
        )
    return server


def psycopg2_url(url: str) -> str:
    """``url`` with the psycopg2 driver when it names none; an explicit driver is kept."""
    parsed = make_url(url)
    if parsed.drivername in _BARE_POSTGRES:
        return parsed.set(drivername=PSYCOPG2).render_as_string(hide_password=False)
    return url


def dagster_url(url: str) -> str:
    """``url`` forced to psycopg2: the only driver dagster-postgres works with here."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in _BARE_POSTGRES:
        raise ValueError(f"Dagster storage needs a PostgreSQL URL, got {parsed!r}")
    if parsed.drivername == PSYCOPG2:
        return url
    return parsed.set(drivername=PSYCOPG2).render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    """The same server and credentials as ``url``, another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def shown_url(url: str) -> str:
    """``url`` fit for logs and terminals: its password masked."""
    return make_url(url).render_as_string(hide_password=True)
