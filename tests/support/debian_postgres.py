"""A PostgreSQL server from Debian's `postgresql` package, as its own cluster: the "external"
database an operator points the platform at (TCP, password authentication)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import sqlalchemy as sa

from tests.support.system import system_binary
from veriframe_core.processes import free_port

SUPERUSER = "admin"


class DebianPostgres:
    """initdb + pg_ctl of the packaged server, in a folder of its own on a free port. Run as
    root, the server runs as the package's `postgres` user (postgres refuses root)."""

    def __init__(self) -> None:
        bins = ":".join(sorted(glob.glob("/usr/lib/postgresql/*/bin")))
        self.pg_ctl = system_binary("pg_ctl", "postgresql", also_in=bins)
        self.initdb = str(Path(self.pg_ctl).with_name("initdb"))
        self.user = "postgres" if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="veriframe-debian-pg-"))
        self.port = free_port()
        self.password = os.urandom(12).hex()

    def _run(self, *command: str) -> None:
        result = subprocess.run(command, user=self.user, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr or result.stdout}")

    def start(self) -> DebianPostgres:
        if self.user:
            shutil.chown(self.dir, self.user)
        secret = self.dir / "pwfile"
        secret.write_text(self.password)
        if self.user:
            shutil.chown(secret, self.user)
        data = self.dir / "data"
        self._run(
            self.initdb, "-D", str(data), "-U", SUPERUSER, f"--pwfile={secret}",
            "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C",
        )  # fmt: skip
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run(self.pg_ctl, "-D", str(data), "-l", str(self.dir / "log"), "-o", options,
                  "-w", "start")  # fmt: skip
        return self

    def url(self, database: str = "postgres", user: str = SUPERUSER, password: str | None = None):
        return (
            f"postgresql+psycopg2://{user}:{password or self.password}"
            f"@127.0.0.1:{self.port}/{database}"
        )

    def create_owner(self, role: str, password: str, *databases: str) -> None:
        """A login role (not a superuser) owning fresh databases, as a DBA would set up."""
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
            for database in databases:
                conn.execute(sa.text(f"CREATE DATABASE {database} OWNER {role}"))
        engine.dispose()

    def is_running(self) -> bool:
        return (self.dir / "data" / "postmaster.pid").exists()

    def stop(self) -> None:
        if self.is_running():
            self._run(self.pg_ctl, "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
