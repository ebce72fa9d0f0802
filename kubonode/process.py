"""Run the local IPFS node as a child process (for tests and benchmarks): its argv and its
readiness."""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path

from veriframe_core.processes import Child, answers


@dataclass
class KuboProcess:
    """`python -m kubonode` on its own port and repository; its log sits beside the folder."""

    repo: Path
    port: int
    child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.repo.parent / f"{self.repo.name}.log"

    def start(self, timeout: float = 60) -> KuboProcess:
        """Start it and return once its RPC API answers."""
        argv = [sys.executable, "-m", "kubonode"]
        argv += ["--port", str(self.port), "--repo", str(self.repo)]
        self.child = Child.spawn("kubonode", argv, self.log_path)
        ready = functools.partial(answers, f"{self.url}/api/v0/version", "POST")
        self.child.wait_ready(ready, timeout)
        return self

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
        self.child = None
