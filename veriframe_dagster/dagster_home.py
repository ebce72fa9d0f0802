"""The Dagster home of a VeriFrame deployment: a folder holding the repo's dagster.yaml.

The repository root's ``dagster.yaml`` is the one source of truth; it is copied (not edited)
into ``settings.dagster_home``, and takes its database URL from the environment variable
``VERIFRAME_DAGSTER_DATABASE_URL``, which the process that spawns Dagster sets.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from veriframe_core.settings import Settings

DAGSTER_URL_ENV = "VERIFRAME_DAGSTER_DATABASE_URL"
"""Read by dagster.yaml (storage.postgres.postgres_url); also Settings.dagster_database_url."""

INSTANCE_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"
"""The repo's dagster.yaml (found next to the package in a source checkout or editable install)."""


def prepare_dagster_home(settings: Settings, dagster_url: str) -> Path:
    """Create ``settings.dagster_home`` with a current copy of dagster.yaml and return it.

    ``dagster_url`` is checked, not written: dagster.yaml reads it from the environment.
    """
    if not dagster_url.startswith("postgresql+psycopg2://"):
        raise ValueError(
            "Dagster's storage URL must use the postgresql+psycopg2 scheme "
            f"(dagster-postgres breaks on SQLAlchemy 2.1's psycopg 3 default), got {dagster_url!r}"
        )
    if not INSTANCE_YAML.is_file():
        raise FileNotFoundError(
            f"dagster.yaml not found at {INSTANCE_YAML}; run from a source checkout "
            "or an editable install of veriframe"
        )
    home = settings.dagster_home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.is_file() or target.read_bytes() != INSTANCE_YAML.read_bytes():
        shutil.copyfile(INSTANCE_YAML, target)
    return home


def dagster_environment(home: Path, dagster_url: str) -> dict[str, str]:
    """The variables a spawned ``dagster`` process needs, to merge into its environment."""
    return {"DAGSTER_HOME": str(home), DAGSTER_URL_ENV: dagster_url}


CODE_LOCATION = "veriframe_dagster.definitions"
"""The code location's name, in the UI and in GraphQL: the module it is loaded from, in
`veriframe up` and in the repository's workspace.yaml alike (a test holds them together).
Dagster keys sensor state and run-key deduplication by it, so renaming it would restart the
render sensor's cursor and request every claimed job's run again."""


def code_server_workspace(home: Path, socket: Path) -> Path:
    """A workspace file in `home` that points the webserver and the daemon at one running
    code server (`dagster api grpc`) on the Unix `socket`: the code is imported once, not by
    a server each, and the daemon does not replace its own server every minute, as it does
    with a workspace of `python_module` entries."""
    workspace = home / "workspace.yaml"
    workspace.write_text(
        "# Written by `veriframe up`: the code server it started.\n"
        "load_from:\n"
        "  - grpc_server:\n"
        f"      socket: {socket}\n"
        f"      location_name: {CODE_LOCATION}\n"
    )
    return workspace
