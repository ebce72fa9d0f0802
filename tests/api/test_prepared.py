"""Prepared statements: `:name` parameters become `$n` outside string literals only."""

from __future__ import annotations

import pytest

from api.prepared import Prepared


def test_parameters_are_numbered_once_each_and_strings_are_left_alone() -> None:
    statement = Prepared(
        "t", "SELECT to_char(x, 'HH24:MI:SS'), :a::text, :b + :a FROM y WHERE z = :worker"
    )
    assert statement.prepare == (
        "PREPARE t AS SELECT to_char(x, 'HH24:MI:SS'), $1::text, $2 + $1 FROM y WHERE z = $3"
    )
    assert statement.execute == "EXECUTE t(%(a)s, %(b)s, %(worker)s)"
    assert Prepared("u", "SELECT 1").execute == "EXECUTE u"


@pytest.mark.parametrize("sql", ["SELECT 100 % 7", "SELECT 1 -- it's a comment"])
def test_sql_that_cannot_be_prepared_safely_is_refused(sql: str) -> None:
    with pytest.raises(ValueError, match="cannot contain"):
        Prepared("v", sql)
