"""Run devchain as a child process (for tests and benchmarks) and stop it by its PID."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class DevchainProcess:
    """`python -m devchain` on its own port and state folder; its log sits beside the folder."""

    state_dir: Path
    port: int
    accounts: int = 12
    proc: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.state_dir.parent / f"{self.state_dir.name}.log"

    def start(self, timeout: float = 60) -> dict[str, Any]:
        """Start it and return the chain file's contents once it is serving."""
        chain_file = self.state_dir / "chain.json"
        chain_file.unlink(missing_ok=True)
        self.state_dir.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "devchain",
            "--port",
            str(self.port),
            "--state-dir",
            str(self.state_dir),
            "--accounts",
            str(self.accounts),
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"devchain exited with {self.proc.returncode}; see {self.log_path}"
                )
            if chain_file.exists():
                return json.loads(chain_file.read_text())
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"devchain did not start within {timeout} s; see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM (devchain seals its pre-confirmed block and closes its journal), then wait."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.proc = None
