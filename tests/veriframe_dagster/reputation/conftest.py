"""Fixtures of the reputation tests: one devchain with ten days of history for the package,
its warehouse (ingested by the chain sensor's code path, plus the render attempts), the
definitions for both, a Dagster instance, and every table materialized day by day."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.support.chain import Driver, devchain_fixture
from tests.support.definitions import ingest, settings_for
from tests.support.warehouse import fresh_warehouse_url
from tests.veriframe_dagster.reputation.expected import Chain
from tests.veriframe_dagster.reputation.history import History, Ledger, record_api_rows
from tests.veriframe_dagster.reputation.runs import DAILY_KEYS, SCORECARD_KEY, materialize
from veriframe_core.settings import Settings
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_core.warehouse.engine import make_engine
from veriframe_dagster.definitions import build_definitions

chain = devchain_fixture("package")


@pytest.fixture(scope="package")
def ledger(chain: Driver) -> Ledger:
    return History(chain).run()


@pytest.fixture(scope="package")
def warehouse_url(embedded_pg: EmbeddedPostgres) -> Iterator[str]:
    """A migrated warehouse of the package; the environment names it (Dagster's processes
    read the secret URL there)."""
    url = fresh_warehouse_url(embedded_pg, "reputation")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(Settings.env_name("database_url"), url)
        yield url


@pytest.fixture(scope="package")
def engine(warehouse_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(warehouse_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="package")
def settings(chain: Driver, warehouse_url: str, tmp_path_factory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("reputation_data")
    return settings_for(chain, warehouse_url, data_dir, chain_fresh_max_lag_s=0)


@pytest.fixture(scope="package")
def defs(settings: Settings) -> dg.Definitions:
    return build_definitions(settings)


@pytest.fixture(scope="package")
def ingested(defs: dg.Definitions, ledger: Ledger, engine: sa.Engine) -> Ledger:
    ingest(defs)
    record_api_rows(engine, ledger)
    return ledger


@pytest.fixture(scope="package")
def views(chain: Driver, ingested: Ledger) -> Chain:
    """The contract's views over the ingested history (read before any test moves on)."""
    return Chain(chain, ingested)


@pytest.fixture(scope="package")
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture(scope="package")
def materialized(
    defs: dg.Definitions, instance: dg.DagsterInstance, engine: sa.Engine, ingested: Ledger
) -> Ledger:
    """Every daily table materialized one day at a time, and the scorecard."""
    for day in ingested.days:
        materialize(defs, instance, engine, list(DAILY_KEYS), partition=day.isoformat())
    materialize(defs, instance, engine, [SCORECARD_KEY])
    return ingested
