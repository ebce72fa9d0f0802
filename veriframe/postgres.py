"""Starting the embedded PostgreSQL: an explicit step of the commands that own it.

`veriframe up`, `index` and `api` call `running_warehouse` first; resolving a URL elsewhere
never starts anything. With a database URL set, nothing is started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from veriframe_core.settings import Settings
from veriframe_core.warehouse.migrate import upgrade_warehouse
from veriframe_core.warehouse.urls import DatabaseUrls, resolve_database_urls

if TYPE_CHECKING:  # the embedded server's wheel is the `local` extra: imported when used
    from veriframe_core.warehouse.embedded import EmbeddedPostgres

log = logging.getLogger("veriframe.postgres")


def start_embedded_postgres(settings: Settings) -> tuple[EmbeddedPostgres, bool]:
    """Start (or adopt) the embedded server and create the warehouse and Dagster databases;
    the server, and whether this call started it."""
    from veriframe_core.warehouse.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(settings.postgres_dir)
    was_running = server.is_running
    server.data_dir.parent.mkdir(parents=True, exist_ok=True)
    server.start()
    server.ensure_database(settings.warehouse_db_name)
    if settings.dagster_database_url is None:
        server.ensure_database(settings.dagster_db_name)
    return server, not was_running


@contextmanager
def running_warehouse(
    settings: Settings, say: Callable[[str], None] = log.info
) -> Iterator[DatabaseUrls]:
    """The platform's database URLs, the warehouse migrated; with no database URL set, the
    embedded server started first (and stopped on exit if this started it). `say` tells the
    user what was started, and where."""
    started: EmbeddedPostgres | None = None
    if settings.database_url is None:
        server, started_now = start_embedded_postgres(settings)
        what = "started" if started_now else "using the already running"
        say(
            f"PostgreSQL: {what} embedded server (pid {server.pid}) in {server.data_dir}, "
            f"socket {server.socket_dir}"
        )
        started = server if started_now else None
    try:
        urls = resolve_database_urls(settings)
        upgrade_warehouse(urls.warehouse)
        yield urls
    finally:
        if started is not None:
            started.stop()
            say(f"PostgreSQL: stopped the embedded server in {started.data_dir}")
