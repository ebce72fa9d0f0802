"""deploy/veriframe-worker.service, the unit docs/workers.md installs: systemd accepts it, it
runs the agent as the docs say, and what it sets are the agent's settings."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

from tests.support.system import system_binary
from veriframe_core.settings import WorkerSettings

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "veriframe-worker.service"
INSTALLED = "/opt/veriframe/bin/veriframe-worker"


def service() -> configparser.SectionProxy:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # keys as systemd spells them
    unit.read_string(UNIT.read_text())
    return unit["Service"]


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = system_binary("systemd-analyze", "systemd")
    agent = Path(sys.executable).parent / "veriframe-worker"  # where this machine has it
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace(INSTALLED, str(agent)))
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_unit_runs_the_agent_stopped_by_sigterm_with_its_key_as_a_credential() -> None:
    unit = service()
    assert unit["ExecStart"] == INSTALLED and unit["KillSignal"] == "SIGTERM"
    assert unit["KillMode"] == "mixed" and int(unit["TimeoutStopSec"]) > 30  # a verdict's grace
    assert unit["Restart"] == "always"
    names = {
        line.removeprefix("Environment=").split("=", 1)[0]
        for line in UNIT.read_text().splitlines()
        if line.startswith("Environment=")
    }
    settings = {f"VERIFRAME_{name.upper()}" for name in WorkerSettings.model_fields}
    assert names - {"PYTHONUNBUFFERED"} <= settings
    assert unit["LoadCredential"].startswith("worker-key:")
    assert "VERIFRAME_WORKER_KEY_FILE=%d/worker-key" in UNIT.read_text()
    assert "PRIVATE_KEY" not in UNIT.read_text()
