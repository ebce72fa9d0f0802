"""Run devchain as a child process (for tests and benchmarks): its argv and its readiness."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veriframe_core.processes import Child


@dataclass
class DevchainProcess:
    """`python -m devchain` on its own port and state folder; its log sits beside the folder."""

    state_dir: Path
    port: int
    accounts: int = 12
    child: Child | None = None

    @property
    def log_path(self) -> Path:
        return self.state_dir.parent / f"{self.state_dir.name}.log"

    def start(self, timeout: float = 60) -> dict[str, Any]:
        """Start it and return the chain file's contents once it is serving."""
        chain_file = self.state_dir / "chain.json"
        chain_file.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "devchain", "--port", str(self.port)]
        argv += ["--state-dir", str(self.state_dir), "--accounts", str(self.accounts)]
        self.child = Child.spawn("devchain", argv, self.log_path)
        self.child.wait_ready(chain_file.exists, timeout)
        return json.loads(chain_file.read_text())

    def stop(self) -> None:
        """SIGTERM (devchain seals its pre-confirmed block and closes its journal), then wait."""
        if self.child is not None:
            self.child.stop()
        self.child = None
