"""Server-side prepared statements for the API's hot, fixed SQL.

psycopg2 sends every statement as text, so Postgres parses and plans it each time: for the
claim path that was about a third of Postgres's CPU per claim (bench/README.md). A
`Prepared` statement is PREPAREd once per Postgres session (remembered in the pooled
connection's `info`, which SQLAlchemy clears when it replaces the connection) and then
EXECUTEd with its parameters. The same statement runs on an asyncpg connection
(`fetchrow`, `fetchval`, `run`) as its `$n` text, which asyncpg prepares once per
connection in its statement cache.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import sqlalchemy as sa

PREPARED = "veriframe_prepared"
_STRING = re.compile(r"('(?:[^']|'')*')")
_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")


class Prepared:
    """A statement with `:name` parameters, run as a prepared statement."""

    def __init__(self, name: str, sql: str):
        if "%" in sql or "--" in sql:  # psycopg2 formats '%'; a comment may hold a quote
            raise ValueError("a prepared statement's SQL cannot contain '%' or '--'")
        self.name = name
        self.parameters: list[str] = []
        parts = _STRING.split(sql)
        for i in range(0, len(parts), 2):  # outside string literals
            parts[i] = _PARAMETER.sub(self._placeholder, parts[i])
        self.numbered = "".join(parts)
        self.prepare = f"PREPARE {name} AS {self.numbered}"
        arguments = ", ".join(f"%({p})s" for p in self.parameters)
        self.execute = f"EXECUTE {name}({arguments})" if arguments else f"EXECUTE {name}"

    def _placeholder(self, match: re.Match) -> str:
        name = match.group(1)
        if name not in self.parameters:
            self.parameters.append(name)
        return f"${self.parameters.index(name) + 1}"

    def __call__(self, conn: sa.Connection, params: dict[str, Any] | None = None):
        """Execute on `conn` (preparing it first on a session that has not seen it)."""
        done = conn.connection.info.setdefault(PREPARED, set())
        if self.name not in done:
            conn.exec_driver_sql(self.prepare)
            done.add(self.name)
        values = {p: (params or {})[p] for p in self.parameters}
        return conn.exec_driver_sql(self.execute, values)

    def _arguments(self, params: dict[str, Any] | None) -> list[Any]:
        return [(params or {})[p] for p in self.parameters]

    async def fetchrow(self, conn: asyncpg.Connection, params: dict[str, Any] | None = None):
        return await conn.fetchrow(self.numbered, *self._arguments(params))

    async def fetch(self, conn: asyncpg.Connection, params: dict[str, Any] | None = None):
        return await conn.fetch(self.numbered, *self._arguments(params))

    async def fetchval(self, conn: asyncpg.Connection, params: dict[str, Any] | None = None):
        return await conn.fetchval(self.numbered, *self._arguments(params))

    async def run(self, conn: asyncpg.Connection, params: dict[str, Any] | None = None):
        """The command's status text, e.g. `UPDATE 1`."""
        return await conn.execute(self.numbered, *self._arguments(params))
