"""The reputation domain in the code location: tables with column schemas, lineage from the
chain tables, partitions, automation and the sensors; the migration equals the models."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from veriframe_core.settings import Settings, get_settings
from veriframe_core.warehouse import analytics
from veriframe_dagster.definitions import defs
from veriframe_dagster.defs.chain.assets import TABLES as CHAIN_TABLES
from veriframe_dagster.defs.chain.assets import table_key as chain_key
from veriframe_dagster.defs.reputation.assets import (
    ACTIVITY_DAYS_KEY,
    NETWORK_DAYS_KEY,
    SCORECARD_KEY,
    WORKER_DAYS_KEY,
)
from veriframe_dagster.defs.reputation.automation import AUTOMATION_SENSOR
from veriframe_dagster.defs.reputation.sensor import SENSOR_NAME

TABLE_KEYS = (WORKER_DAYS_KEY, NETWORK_DAYS_KEY, SCORECARD_KEY)


def test_tables_are_in_the_catalog_with_their_columns() -> None:
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    for key in TABLE_KEYS:
        spec = specs[key]
        table = analytics.TABLES[key.path[-1]]
        assert spec.group_name == "reputation"
        assert spec.metadata["dagster/table_name"] == f"analytics.{table.name}"
        columns = spec.metadata["dagster/column_schema"].columns
        assert [c.name for c in columns] == [c.name for c in table.columns]
        assert all(c.description for c in columns if c.name != "worker_address")
        assert spec.automation_condition is not None
        assert spec.description


def test_lineage_runs_from_the_chain_tables_to_the_reputation_tables() -> None:
    graph = defs.resolve_asset_graph()
    assert graph.get(ACTIVITY_DAYS_KEY).parent_keys == {chain_key(t) for t in CHAIN_TABLES}
    for key in TABLE_KEYS:
        assert ACTIVITY_DAYS_KEY in graph.get(key).parent_keys
    assert dg.AssetKey("render") in graph.get(SCORECARD_KEY).parent_keys
    assert graph.get(WORKER_DAYS_KEY).partitions_def == graph.get(ACTIVITY_DAYS_KEY).partitions_def
    assert graph.get(SCORECARD_KEY).partitions_def is None


def test_sensors_run_from_the_start_and_target_the_reputation_tables() -> None:
    days = defs.resolve_sensor_def(SENSOR_NAME)
    assert days.default_status == dg.DefaultSensorStatus.RUNNING
    assert days.required_resource_keys == set()  # given: Dagster would make an instance a tick
    assert days.minimum_interval_seconds == get_settings().reputation_activity_interval_s
    automation = defs.resolve_sensor_def(AUTOMATION_SENSOR)
    assert isinstance(automation, dg.AutomationConditionSensorDefinition)
    assert automation.default_status == dg.DefaultSensorStatus.RUNNING
    assert automation.minimum_interval_seconds == get_settings().reputation_automation_interval_s
    assert automation.minimum_interval_seconds <= 30  # within a minute
    targeted = automation.asset_selection.resolve(defs.resolve_asset_graph())
    assert set(TABLE_KEYS) <= targeted


@pytest.mark.parametrize("day", ["2026-02-30", "1.12.2026", "2026-12-1"])
def test_a_first_day_that_is_no_day_is_refused_by_name(day: str) -> None:
    with pytest.raises(ValueError, match="reputation_first_day"):
        Settings(reputation_first_day=day)


def test_migration_creates_the_analytics_tables_as_modelled(warehouse_url: str) -> None:
    engine = sa.create_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "include_schemas": True,
                    "include_name": lambda name, kind, _: kind != "schema" or name == "analytics",
                },
            )
            assert compare_metadata(context, analytics.metadata) == []
    finally:
        engine.dispose()
