"""Prometheus metrics of the API (`GET /metrics`): the platform's state read from the
warehouse at scrape time (`platform`), so every API process reports the same figures and a
restart loses none, and this process's requests (`requests`)."""
