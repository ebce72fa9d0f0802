"""The agent's own `/metrics`, served over HTTP as Prometheus scrapes it."""

import httpx

from render_executor.metrics import AgentMetrics


def test_the_agents_metrics_are_served_and_count_what_it_did() -> None:
    metrics = AgentMetrics("render")
    server = metrics.serve("127.0.0.1", 0)
    try:
        metrics.job("delivered", {"render": 12.5, "upload": 0.3})
        metrics.job("failed", {"download": 1.0})
        metrics.verdict("verified")
        metrics.verdict(None)
        text = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics").text
    finally:
        server.shutdown()
    assert 'veriframe_worker_jobs_total{outcome="delivered",role="render"} 1.0' in text
    assert 'veriframe_worker_jobs_total{outcome="failed",role="render"} 1.0' in text
    assert 'veriframe_worker_verdicts_total{verdict="verified"} 1.0' in text
    assert 'veriframe_worker_verdicts_total{verdict="none"} 1.0' in text
    assert 'veriframe_worker_step_seconds_count{step="render"} 1.0' in text
    assert 'veriframe_worker_step_seconds_sum{step="render"} 12.5' in text
    assert "veriframe_worker_last_job_finished_timestamp_seconds " in text
