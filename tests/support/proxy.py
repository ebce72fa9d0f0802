"""nginx as the reverse proxy in front of the API, configured by the file operators deploy."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.support.system import system_binary
from veriframe_core.processes import Child, free_port

SNIPPET = Path(__file__).resolve().parents[2] / "deploy" / "nginx-veriframe-api.conf"


class Nginx:
    """One nginx process (no master, no daemon) on a free port, proxying to `upstream`."""

    def __init__(self, upstream: str, workdir: Path):
        self.binary = system_binary("nginx", "nginx-light")
        self.port = free_port()
        self.dir = workdir
        host_port = upstream.removeprefix("http://")
        (workdir / "nginx.conf").write_text(
            f"""
daemon off;
master_process off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    upstream veriframe_api {{ server {host_port}; }}
    server {{
        listen 127.0.0.1:{self.port};
        include {SNIPPET};
    }}
}}
"""
        )
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        argv = [self.binary, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")]
        self.child = Child.spawn("nginx", argv, self.dir / "nginx.log")
        self.child.wait_ready(self._answers, timeout=10, interval=0.05)
        return self

    def _answers(self) -> bool:
        """Any answer through the proxy, whatever the API's health says."""
        try:
            httpx.get(f"{self.url}/health", timeout=1)
            return True
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.child is not None:  # SIGQUIT is graceful: finish what is in flight
            self.child.stop(timeout=10, sig=signal.SIGQUIT)
