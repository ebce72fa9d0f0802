"""COPY text rendering round-trips through a real Postgres exactly: big integers, JSON, escapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from veriframe_core.chain.ingest import store

COLUMNS = ("n", "t", "b", "at", "doc")
ROWS = [
    {
        "n": 2**251 + 17 * 2**192 - 1,  # the largest felt
        "t": 'tab\there, newline\nhere, back\\slash, quote" and é',
        "b": True,
        "at": datetime(2026, 11, 23, 9, 30, 1, tzinfo=UTC),
        "doc": {"reward": 2**200 + 1, "ok": False, "no": None, "text": 'a "b" \\ c', "l": [2**70]},
    },
    {"n": 0, "t": "", "b": False, "at": None, "doc": {}},
    {"n": None, "t": None, "b": None, "at": None, "doc": []},
]


def test_copy_lines_round_trip_exactly(new_warehouse) -> None:
    engine = new_warehouse()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TEMP TABLE copy_check (n NUMERIC(78,0), t TEXT, b BOOLEAN, "
                "at TIMESTAMPTZ, doc JSONB)"
            )
        )
        with conn.connection.dbapi_connection.cursor() as cur:
            store.copy_into(cur, "copy_check", COLUMNS, store.copy_lines(ROWS, COLUMNS))
        back = conn.execute(sa.text("SELECT n, t, b, at, doc::text AS doc FROM copy_check"))
        rows = [dict(r._mapping) for r in back]
    assert len(rows) == len(ROWS)
    for sent, got in zip(ROWS, rows, strict=True):
        assert (None if got["n"] is None else int(got["n"])) == sent["n"]
        assert (got["t"], got["b"], got["at"]) == (sent["t"], sent["b"], sent["at"])
        assert json.loads(got["doc"]) == sent["doc"]  # JSONB kept every integer digit


def test_json_text_is_standard_json_with_exact_integers() -> None:
    value = {"a": 2**255, "b": [1, "0xff", 2**64], "c": {"d": True, "e": None}, "f": "x\ny"}
    assert json.loads(store.json_text(value)) == value
    assert store.json_text(["0x1", "0x2"]) == '["0x1","0x2"]'
