"""Dagster's daemon as a Prometheus metric: the age of its latest heartbeat in Dagster's
storage, for an alert on a daemon that is down or frozen (Dagster's own Daemons page counts
it healthy for 30 minutes after its last heartbeat; `/ready` names it too)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from api.probes import Probe


@dataclass(frozen=True)
class DaemonMetrics(Collector):
    """One scrape's reading of the daemon's heartbeats (daemon type → unix time)."""

    heartbeats: Probe[dict[str, float]]

    def collect(self) -> Iterator[Metric]:
        age = GaugeMetricFamily(
            "veriframe_dagster_daemon_heartbeat_age_seconds",
            "Seconds since Dagster's daemon's latest heartbeat (it beats every 30 s); no "
            "sample when Dagster's storage does not answer or the daemon never ran.",
        )
        if self.heartbeats.value:
            age.add_metric([], max(time.time() - max(self.heartbeats.value.values()), 0))
        yield age
