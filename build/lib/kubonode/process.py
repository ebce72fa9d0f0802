"""Run the local IPFS node as a child process (for tests and benchmarks); stop it by its PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass
class KuboProcess:
    """`python -m kubonode` on its own port and repository; its log sits beside the folder."""

    repo: Path
    port: int
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.repo.parent / f"{self.repo.name}.log"

    def start(self, timeout: float = 60) -> KuboProcess:
        """Start it and return once its RPC API answers."""
        self.repo.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "kubonode",
            "--port",
            str(self.port),
            "--repo",
            str(self.repo),
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"kubonode exited with {self.proc.returncode}; see {self.log_path}"
                )
            try:
                if httpx.post(f"{self.url}/api/v0/version", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"kubonode did not start within {timeout} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.proc = None
