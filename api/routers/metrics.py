"""`GET /metrics`: Prometheus's text format. The platform's figures come from the warehouse,
the chain and Dagster's storage (its daemon's heartbeats) at scrape time, this process's
requests from its own registry. A part that does not answer is `veriframe_up{part=...} 0`
in a 200, never a failed scrape, so an alert can name it."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest

from api import probes
from api.deps import Chain, DagsterStorage, Engine, IpfsHttp, SettingsDep, app_state
from api.metrics.daemon import DaemonMetrics
from api.metrics.platform import PlatformMetrics, read_counts

router = APIRouter(tags=["health"])
Registry = Annotated[CollectorRegistry, Depends(app_state("metrics_registry"))]


EXAMPLE = """\
# HELP veriframe_jobs Jobs by status.
# TYPE veriframe_jobs gauge
veriframe_jobs{status="open"} 42.0
# HELP veriframe_ingestion_lag_blocks Blocks between the chain's head and the last ingested block.
# TYPE veriframe_ingestion_lag_blocks gauge
veriframe_ingestion_lag_blocks 1.0
"""


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"example": EXAMPLE}}}},
    summary="Prometheus metrics: the queue, claims, verdicts, ingestion lag, requests",
)
async def metrics(
    engine: Engine,
    dagster: DagsterStorage,
    chain: Chain,
    ipfs: IpfsHttp,
    settings: SettingsDep,
    registry: Registry,
) -> Response:
    seen, heartbeats = await asyncio.gather(
        probes.observe(engine, chain, ipfs, settings.ipfs_api_url, read_counts),
        probes.daemon_heartbeats(dagster),
    )
    platform = generate_latest(PlatformMetrics(seen)) + generate_latest(DaemonMetrics(heartbeats))
    body = platform + generate_latest(registry)
    # the text format every Prometheus reads (2.x too); the names are all plain ASCII
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
