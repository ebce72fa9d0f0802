"""The agent's own Prometheus metrics (`VERIFRAME_WORKER_METRICS_PORT`): what a worker's or a
verifier's operator alerts on from the machine itself: jobs by outcome, the seconds of each
step, the verdicts on its deliveries (or the verdicts it reached, as a verifier), and when it
last finished one. The API's `/metrics` has the platform's side."""

from __future__ import annotations

import time
from collections.abc import Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

STEP_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)


class AgentMetrics:
    """Counters and timings of one agent, in a registry of its own."""

    def __init__(self, role: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"registry": self.registry}
        self.jobs = Counter(
            "veriframe_worker_jobs",
            "Jobs this agent took, by outcome: delivered, failed, stopped (renders); verified, "
            "rejected, failed (a verifier's verifications)",
            ["role", "outcome"],
            **labels,
        )
        self.verdicts = Counter(
            "veriframe_worker_verdicts",
            "Verdicts on this worker's deliveries: verified, rejected, none (no verdict came)",
            ["verdict"],
            **labels,
        )
        self.step_seconds = Histogram(
            "veriframe_worker_step_seconds",
            "Wall seconds of each step of a job (download, render, upload, complete, "
            "verification, submit_on_chain, job; a verifier's: verify)",
            ["step"],
            buckets=STEP_BUCKETS,
            **labels,
        )
        self.last_finished = Gauge(
            "veriframe_worker_last_job_finished_timestamp_seconds",
            "When this agent last finished a job (Unix time; 0: none yet)",
            **labels,
        )
        self.role = role

    def job(self, outcome: str, seconds: Mapping[str, float]) -> None:
        """A job ended with `outcome`, its steps having taken `seconds`."""
        self.jobs.labels(self.role, outcome).inc()
        self.steps(seconds)
        self.last_finished.set(time.time())

    def steps(self, seconds: Mapping[str, float]) -> None:
        """Steps that took `seconds` (those after a job's end: its verdict, its submission)."""
        for step, value in seconds.items():
            self.step_seconds.labels(step).observe(value)

    def verdict(self, verdict: str | None) -> None:
        self.verdicts.labels(verdict or "none").inc()

    def serve(self, host: str, port: int) -> WSGIServer:
        """Serve `/metrics` on `host:port` from a thread of this process (port 0: any free
        one, `server_port` says which); `shutdown()` stops it."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        return server
