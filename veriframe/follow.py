"""Following one job from creation to payment, as `veriframe up` shows its demo job and
`veriframe submit` the creator's: created → claimed → rendering n% → uploaded →
materialized → submitted → finalized.

Everything is read from the platform's public faces: the job, its live claim and its failed
attempts from the API, and (on the operator's machine only) the `render` partition's
materialization from Dagster's GraphQL API, and the settlement run launched through the same
GraphQL API (what an operator's "Launch run" does). A failed attempt is shown with its
reason as soon as it ends; a job no worker can render any more stops the following.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from veriframe.exits import JobFailed
from veriframe_dagster.dagster_home import CODE_LOCATION

STAGES = (
    "created",
    "claimed",
    "rendering",
    "uploaded",
    "verified",
    "materialized",
    "submitted",
    "finalized",
)
DELIVERED = ("completed", "verifying", "verified")

MATERIALIZED = """
query Materialized($partition: String!) {
  assetOrError(assetKey: {path: ["render"]}) {
    ... on Asset { assetMaterializations(partitions: [$partition], limit: 1) { runId } }
  }
}
"""
LAUNCH = """
mutation Launch($selector: JobOrPipelineSelector!) {
  launchRun(executionParams: {selector: $selector}) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""


class FollowFailed(JobFailed):
    """The job cannot reach the end: the message says where it stopped and why."""


@dataclass
class Progress:
    """How far a job got, and when each stage was first seen (seconds since following)."""

    job_id: int
    reached: dict[str, float] = field(default_factory=dict)
    percent: float | None = None
    detail: str = ""
    result_cid: str | None = None
    run_id: str | None = None
    deadline: str | None = None
    failed_attempts: set[int] = field(default_factory=set)
    news: list[str] = field(default_factory=list)
    """Failed attempts not shown yet, one line each."""

    @property
    def stage(self) -> str:
        return max(self.reached, key=STAGES.index) if self.reached else "created"

    def see(self, stage: str, at: float) -> None:
        for earlier in STAGES[: STAGES.index(stage) + 1]:  # a stage implies those before it
            self.reached.setdefault(earlier, at)


class Dagster:
    """The bits of Dagster's GraphQL API the followers use."""

    def __init__(self, ui_url: str):
        self.ui_url = ui_url.rstrip("/")
        self.http = httpx.Client(base_url=self.ui_url, timeout=30)

    def query(self, document: str, **variables: Any) -> dict:
        answer = self.http.post("/graphql", json={"query": document, "variables": variables})
        answer.raise_for_status()
        body = answer.json()
        if body.get("errors"):
            raise FollowFailed(f"Dagster's GraphQL API: {body['errors'][0]['message']}")
        return body["data"]

    def materialization_run(self, job_id: int) -> str | None:
        asset = self.query(MATERIALIZED, partition=str(job_id))["assetOrError"]
        found = asset.get("assetMaterializations") or []
        return found[0]["runId"] if found else None

    def launch(self, job_name: str) -> str:
        selector = {
            "repositoryLocationName": CODE_LOCATION,
            "repositoryName": "__repository__",
            "jobName": job_name,
        }
        launched = self.query(LAUNCH, selector=selector)["launchRun"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise FollowFailed(f"launching {job_name}: {launched.get('message', launched)}")
        return launched["run"]["runId"]

    def partition_url(self, job_id: int) -> str:
        return f"{self.ui_url}/assets/render?view=partitions&partition={job_id}"

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_url}/runs/{run_id}"


def observe(api: httpx.Client, dagster: Dagster | None, progress: Progress, at: float) -> None:
    """Move `progress` on from what the API and Dagster say now."""
    answer = api.get(f"/api/v1/jobs/{progress.job_id}")
    if answer.status_code == 404:
        progress.detail = "waiting for the chain sensor to index it"
        return
    answer.raise_for_status()
    job = answer.json()
    progress.see("created", at)
    progress.deadline = job["deadline"]
    claim = job.get("claim")
    if claim:
        progress.see("claimed", at)
        progress.detail = claim.get("status_message") or ""
        if claim["state"] == "running" and claim.get("progress") is not None:
            progress.see("rendering", at)
            progress.percent = 100 * claim["progress"]
        if claim["state"] in DELIVERED:
            progress.see("uploaded", at)
            progress.percent = 100.0
            progress.result_cid = claim.get("result_cid")
            progress.detail = "being verified" if claim["state"] != "verified" else ""
        if claim["state"] == "verified":
            progress.see("verified", at)
    elif job["status"] == "open":
        progress.detail = "waiting for a worker"
        verification = job.get("verification")
        if verification and verification["state"] == "rejected":
            reasons = "; ".join((verification.get("report") or {}).get("reasons") or [])
            progress.detail = f"rejected: {reasons[:160]}; re-queued, waiting for a worker"
            progress.result_cid = None
    if (job.get("verification") or {}).get("state") == "verified":  # the claim may be gone
        progress.see("verified", at)
        progress.result_cid = progress.result_cid or job["verification"]["result_cid"]
    if job["status"] in ("submitted", "finalized"):
        progress.see("uploaded", at)
        progress.result_cid = progress.result_cid or job.get("result_cid")
        progress.reached.setdefault("submitted", at)
    if job["status"] == "finalized":
        progress.reached.setdefault("finalized", at)
    if job["status"] == "expired":
        raise FollowFailed(f"job {progress.job_id} expired before any worker delivered it")
    if job["status"] in ("open", "assigned"):
        _failures(api, progress)
    if dagster is not None and "materialized" not in progress.reached:
        progress.run_id = dagster.materialization_run(progress.job_id)
        if progress.run_id:
            progress.see("uploaded", at)
            progress.reached["materialized"] = at


def _failures(api: httpx.Client, progress: Progress) -> None:
    """Queue a line for each attempt that failed since the last look; FollowFailed with the
    reasons once no worker can render the job any more."""
    job_id = progress.job_id
    answer = api.get(f"/api/v1/jobs/{job_id}/attempts", params={"limit": 50})
    answer.raise_for_status()
    ended = [a for a in answer.json()["items"] if a["state"] in ("failed", "rejected")]
    fresh = [a for a in reversed(ended) if a["attempt"] not in progress.failed_attempts]
    for attempt in fresh:
        progress.failed_attempts.add(attempt["attempt"])
        progress.news.append(
            f"attempt {attempt['attempt']} by {attempt['worker_address'][:12]}… "
            f"{attempt['state']}: {attempt['failure_reason'] or 'no reason given'}"
        )
    if not ended:  # asked again on every look once an attempt failed: a lost answer is retried
        return
    outlook = api.get(f"/api/v1/jobs/{job_id}/outlook")
    outlook.raise_for_status()
    found = outlook.json()
    if not found["renderable"]:
        raise FollowFailed(unrenderable(found))


def unrenderable(outlook: dict) -> str:
    """Why no worker can render the job, in one line."""
    failed, allowed = outlook["failed_attempts"], outlook["max_failed_attempts"]
    if failed >= allowed:
        why = f"{failed} attempts failed (the platform allows {allowed})"
    else:
        why = f"all {outlook['eligible_workers']} eligible workers gave up on it"
    reasons = "; ".join(outlook["reasons"]) or "no reason given"
    return f"job {outlook['job_id']} failed: {why}: {reasons[:400]}"


def table(progress: Progress) -> Table:
    """The stages, ticked when reached, with the time each took from the start."""
    grid = Table(title=f"job {progress.job_id}", show_header=False, box=None)
    current = next((s for s in STAGES if s not in progress.reached), None)
    for stage in STAGES:
        if stage in progress.reached:
            mark, when = "[green]✓[/]", f"{progress.reached[stage]:5.1f} s"
        elif stage == current:
            mark, when = "[yellow]…[/]", ""
        else:
            mark, when = " ", ""
        label = stage
        if stage == "rendering" and progress.percent is not None:
            label = f"rendering {progress.percent:.0f}%"
        note = progress.detail if stage == current else ""
        grid.add_row(mark, label, when, f"[dim]{note}[/]")
    return grid


def follow(
    api: httpx.Client,
    dagster: Dagster | None,
    job_id: int,
    *,
    until: str = "finalized",
    timeout_s: float = 600,
    every_s: float = 0.5,
    on_tick: Callable[[Progress], None] | None = None,
    console: Console | None = None,
) -> Progress:
    """Follow `job_id` until it reaches `until`, live on the console; FollowFailed if it
    cannot (expired, or not there within `timeout_s`). `on_tick` runs at each look (for
    example to launch settlement once the job is due, or to notice a part that died)."""
    progress = Progress(job_id)
    started = time.monotonic()
    with Live(table(progress), console=console, refresh_per_second=4, transient=False) as live:
        while until not in progress.reached:
            now = time.monotonic() - started
            if now > timeout_s:
                raise FollowFailed(
                    f"job {job_id} did not reach '{until}' within {timeout_s:.0f} s "
                    f"(it is at '{progress.stage}': {progress.detail or 'no detail'})"
                )
            try:
                observe(api, dagster, progress, round(now, 1))
            except httpx.HTTPError as err:
                progress.detail = f"cannot reach the platform: {err}"
            if on_tick is not None:
                on_tick(progress)
            while progress.news:
                live.console.print(f"[red]✗[/] {progress.news.pop(0)}")
            live.update(table(progress))
            time.sleep(every_s)
    return progress
