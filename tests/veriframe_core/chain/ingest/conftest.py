"""Fixtures for ingestion tests: a devchain of their own and fresh warehouses."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from tests.support.warehouse import fresh_warehouse
from veriframe_core.warehouse.embedded import EmbeddedPostgres


@pytest.fixture
def new_warehouse(embedded_pg: EmbeddedPostgres) -> Iterator[Callable[[], sa.Engine]]:
    """A factory of fresh, migrated warehouse databases (engines disposed afterwards)."""
    engines: list[sa.Engine] = []

    def make() -> sa.Engine:
        engines.append(fresh_warehouse(embedded_pg))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()
