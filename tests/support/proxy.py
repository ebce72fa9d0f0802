"""nginx as the reverse proxy in front of the API, configured by the file operators deploy."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx

from devchain.process import free_port
from tests.support.system import system_binary

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
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        self.process = subprocess.Popen(
            [self.binary, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.process.stderr.read().decode()}")
            try:
                httpx.get(f"{self.url}/health", timeout=1)
                return self
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
