"""The embedded PostgreSQL: start, adopt, restart with its data, create databases."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from veriframe_core.warehouse.embedded import EmbeddedPostgres, EmbeddedPostgresError
from veriframe_core.warehouse.engine import make_engine


@pytest.fixture
def own_pg(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A server of its own, for tests that stop, restart or break it."""
    server = EmbeddedPostgres(tmp_path / "postgres")
    try:
        yield server
    finally:
        server.stop()


def test_listens_on_a_unix_socket(embedded_pg: EmbeddedPostgres) -> None:
    assert embedded_pg.is_running
    assert isinstance(embedded_pg.pid, int)
    assert embedded_pg.socket_dir is not None
    assert (embedded_pg.socket_dir / ".s.PGSQL.5432").is_socket()
    url = embedded_pg.url("postgres")
    assert url == f"postgresql+psycopg2://postgres@/postgres?host={embedded_pg.socket_dir}"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT inet_server_addr()")) is None  # not TCP
    finally:
        engine.dispose()


def test_start_is_idempotent(embedded_pg: EmbeddedPostgres) -> None:
    pid = embedded_pg.pid
    embedded_pg.start()
    EmbeddedPostgres(embedded_pg.data_dir).start()
    assert embedded_pg.pid == pid


def test_ensure_database_is_idempotent(embedded_pg: EmbeddedPostgres) -> None:
    assert embedded_pg.ensure_database("idempotent_db") is True
    assert embedded_pg.ensure_database("idempotent_db") is False
    engine = make_engine(embedded_pg.url("idempotent_db"))
    try:
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT current_database()")) == "idempotent_db"
    finally:
        engine.dispose()


def test_ensure_database_is_safe_when_callers_race(embedded_pg: EmbeddedPostgres) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        created = list(pool.map(lambda _: embedded_pg.ensure_database("raced_db"), range(4)))
    assert created.count(True) == 1


def test_data_survives_stop_and_start(own_pg: EmbeddedPostgres) -> None:
    own_pg.start()
    own_pg.ensure_database("keep")
    first_pid = own_pg.pid
    engine = make_engine(own_pg.url("keep"))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE frames (id int PRIMARY KEY, cid text)"))
            conn.execute(sa.text("INSERT INTO frames VALUES (1, 'bafy-frame-1')"))
        own_pg.data_dir.parent.chmod(0o700)  # as pytest narrows its own root at each session
        own_pg.stop()
        assert not own_pg.is_running
        assert own_pg.pid is None
        own_pg.stop()  # already stopped: a no-op

        own_pg.start()
        assert own_pg.pid not in (None, first_pid)
        with engine.connect() as conn:  # pre-ping replaces the pooled, dead connection
            assert conn.scalar(sa.text("SELECT cid FROM frames WHERE id = 1")) == "bafy-frame-1"
        assert own_pg.ensure_database("keep") is False
    finally:
        engine.dispose()


def _run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_server_outlives_the_processes_that_use_it(own_pg: EmbeddedPostgres) -> None:
    starter = f"""
        from veriframe_core.warehouse.embedded import EmbeddedPostgres
        server = EmbeddedPostgres({str(own_pg.data_dir)!r})
        server.start()
        server.ensure_database("shared")
        print(server.pid)
    """
    pid = int(_run_python(starter))  # like `veriframe up`, but exits without stop()
    assert own_pg.is_running
    assert own_pg.pid == pid

    assert int(_run_python(starter)) == pid  # a short-lived user adopts it ...
    assert own_pg.pid == pid  # ... and leaves it running on exit

    own_pg.start()  # this process adopts it too
    assert own_pg.pid == pid


def test_missing_parent_folder_is_a_clear_error(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "missing" / "postgres")
    with pytest.raises(EmbeddedPostgresError, match="does not exist"):
        server.start()


def test_failed_start_shows_the_server_log(own_pg: EmbeddedPostgres) -> None:
    own_pg.start()
    own_pg.stop()
    with (own_pg.data_dir / "postgresql.conf").open("a") as conf:
        conf.write("\nshared_buffers = 'plenty'\n")
    with pytest.raises(EmbeddedPostgresError, match="shared_buffers") as error:
        own_pg.start()
    assert "failed to start" in str(error.value)
    assert not own_pg.is_running
