"""Waiting for the verdict on a delivery before it goes on chain.

A delivered frame is `completed`, then `verifying` once a verifier claims it, then
`verified` or `rejected`; an honest agent calls `submit_result` only for a verified one. The
agent learns it from `GET /api/v1/jobs/{id}` (the verification of the job's latest
delivery), which it reads again at once whenever the job's websocket topic (`job:<id>`)
says the job changed. Polling is the fallback: every 0.5 s, backing off to 2 s while the
websocket is down (a verdict takes seconds: a verifier re-renders about 1 % of the frame,
twice, so faster polling would only load the API), and to 5 s, a backstop, while it is up.
The wait ends at the job's deadline, after which the contract takes no result; a stopped
agent waits `STOP_GRACE_S` more at most, so that a verdict about to come is not thrown away,
nor a stop held for long.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

import httpx
from pydantic import ValidationError

from render_executor.wakeup import job_changes
from veriframe_core.protocol import JobDetail, Verification, error_message

log = logging.getLogger("veriframe.worker")
STOP_GRACE_S = 30.0
FINAL = ("verified", "rejected")


@dataclass(frozen=True)
class Polling:
    """How often the verdict wait reads the job: from `first_s`, doubling up to `max_s`, or
    up to `connected_max_s` while the job's websocket topic is connected."""

    first_s: float = 0.5
    max_s: float = 2.0
    connected_max_s: float = 5.0


POLLING = Polling()


def verdict_of(api: httpx.Client, job_id: int, attempt: int) -> Verification | None:
    """The finished verification of the job's delivery by `attempt`, if there is one yet."""
    try:
        answer = api.get(f"/api/v1/jobs/{job_id}")
    except httpx.HTTPError as err:  # asked again at the next poll
        log.warning("Worker: reading job %d for its verdict failed: %s", job_id, err)
        return None
    if answer.status_code != 200:
        log.warning("Worker: reading job %d answered %s", job_id, error_message(answer))
        return None
    try:
        found = JobDetail.model_validate_json(answer.content).verification
    except ValidationError as err:
        log.warning("Worker: job %d does not read as a job: %s", job_id, err)
        return None
    if found is None or found.attempt != attempt or found.state not in FINAL:
        return None
    return found


def await_verdict(
    api: httpx.Client,
    job_id: int,
    attempt: int,
    deadline: datetime,
    stopping: threading.Event,
    *,
    websocket: str | None = None,
    polling: Polling = POLLING,
) -> Verification | None:
    """The verdict on the delivery, or None when none came before the job's deadline (or
    within `STOP_GRACE_S` of a stop). With `websocket` (the API's URL), woken by the job's
    topic there; else, or while it is down, by polling alone."""
    ends, graced = deadline.timestamp(), False
    delay = polling.first_s
    with job_changes(websocket, job_id) if websocket else nullcontext() as changes:
        while (found := verdict_of(api, job_id, attempt)) is None:
            if stopping.is_set() and not graced:
                ends, graced = min(ends, time.time() + STOP_GRACE_S), True
            left = ends - time.time()
            if left <= 0:
                return None
            if changes is None:
                time.sleep(min(delay, left))
            elif changes.wait(min(delay, left)):
                continue  # the job changed: read it again at once
            up = changes is not None and changes.connected.is_set()
            delay = min(delay * 2, polling.connected_max_s if up else polling.max_s)
    return found
