"""`veriframe submit`, `jobs`, `status`, `download` and `rate`: a creator's commands, from any
machine, through the platform's public URL (`--url` / `VERIFRAME_URL`) and the chain it
names; and `status` without a job, the operator's glance (Dagster's queue when it is on this
machine). Every failure is one line and an exit status (`veriframe.exits`)."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx

from veriframe.creator import (
    Creator,
    CreatorAccount,
    download_frame,
    upload_through_api,
    upload_to_own_node,
)
from veriframe.exits import BadInput, CreatorError
from veriframe.follow import Dagster, FollowFailed, follow, unrenderable
from veriframe.scene import SceneDefaults, packed, read_defaults
from veriframe_core.settings import Settings

TOKEN_DECIMALS = 18
WITHOUT_BLENDER = SceneDefaults(frame=1, resolution=(1920, 1080), samples=128, engine="CYCLES")
"""The render settings when this machine cannot read the scene's own (no Blender here)."""
QUEUE = """
query Queue {
  queued: runsOrError(filter: {statuses: [QUEUED]}) { ... on Runs { count } }
  running: runsOrError(filter: {statuses: [STARTING, STARTED]}) { ... on Runs { count } }
}
"""


def token_amount(text: str) -> int:
    """'1.5' tokens as base units (18 decimals), exactly."""
    try:
        amount = Decimal(text) * 10**TOKEN_DECIMALS
    except InvalidOperation:
        raise BadInput(f"--reward {text!r} is not a number of tokens") from None
    if amount <= 0 or amount != amount.to_integral_value():
        raise BadInput(f"--reward {text!r}: must be positive, at most 18 decimals")
    return int(amount)


def resolution(text: str) -> tuple[int, int]:
    try:
        width, height = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise BadInput(f"--resolution {text!r}: expected WIDTHxHEIGHT, e.g. 1920x1080") from None
    return width, height


def platform_url(settings: Settings, args: argparse.Namespace) -> str:
    """`--url`, else `VERIFRAME_URL`, else the API `./dev up` serves on this machine."""
    chosen = getattr(args, "url", None) or settings.platform_url or settings.local_api_url
    return chosen.rstrip("/")


def signed_in(settings: Settings, args: argparse.Namespace) -> Creator:
    """The creator's account on the platform, logging in with its key when a call needs it."""
    return Creator(platform_url(settings, args), CreatorAccount.from_settings(settings), settings)


def render_settings(args: argparse.Namespace, scene: SceneDefaults) -> dict[str, Any]:
    """The scene's own settings, each replaced by the option given for it."""
    width, height = resolution(args.resolution) if args.resolution else scene.resolution
    return {
        "frame": scene.frame if args.frame is None else args.frame,
        "resolution_x": width,
        "resolution_y": height,
        "samples": args.samples or scene.samples,
        "engine": args.engine or scene.engine,
    }


def submit(settings: Settings, args: argparse.Namespace) -> None:
    path = Path(args.path)
    reward = token_amount(args.reward)
    if args.resolution:
        resolution(args.resolution)  # a typo fails before anything is uploaded
    creator = signed_in(settings, args)
    try:
        with packed(path) as upload:
            scene = read_defaults(upload)  # a file no worker can render stops here
            if scene is None:
                print("no Blender here to read the scene's settings: using the defaults")
            render = render_settings(args, scene or WITHOUT_BLENDER)
            print(
                f"rendering frame {render['frame']} at {render['resolution_x']}x"
                f"{render['resolution_y']}, {render['samples']} samples, {render['engine']}",
                flush=True,
            )
            network = creator.network
            if settings.creator_ipfs_api:
                cid = upload_to_own_node(settings.creator_ipfs_api, upload)
            else:
                cid = upload_through_api(creator.api, upload, network.max_upload_bytes)
        print(f"uploaded {path} as {cid}", flush=True)
        job_id = creator.create_job(cid, reward, args.deadline, args.min_reputation)
        print(f"job {job_id} created on chain", flush=True)
        creator.attach(job_id, render)
        if args.no_wait:
            return
        follow(creator.api, None, job_id, until="verified", timeout_s=args.timeout)
        print(f"\njob {job_id} verified: `veriframe download {job_id}` fetches the frame")
    finally:
        creator.close()


def jobs(settings: Settings, args: argparse.Namespace) -> None:
    """The creator's jobs, newest first, with their states and verdicts."""
    creator_address = (
        args.creator
        or settings.creator_address
        or hex(CreatorAccount.from_settings(settings).address)  # devchain's, on up's machine
    )
    creator = Creator(platform_url(settings, args), None, settings)
    try:
        page = creator.api_get("/api/v1/jobs", creator=creator_address, limit=args.limit)
        details = [creator.api_get(f"/api/v1/jobs/{job['job_id']}") for job in page["items"]]
    finally:
        creator.close()
    if args.json:
        print(json.dumps(details, indent=2))
        return
    if not details:
        print(f"no jobs created by {creator_address}")
        return
    print(f"{'job':>6}  {'status':<10} {'reward':>10}  {'verdict':<10} deadline")
    for job in details:
        verdict = (job.get("verification") or {}).get("state") or "-"
        reward = int(job["reward_amount"]) / 10**TOKEN_DECIMALS
        print(
            f"{job['job_id']:>6}  {job['status']:<10} {reward:>10g}  {verdict:<10} "
            f"{job['deadline']}"
        )


def status(settings: Settings, args: argparse.Namespace) -> None:
    url = platform_url(settings, args)
    if args.job is not None:
        return job_status(settings, url, args.job, args.json)
    creator = Creator(url, None, settings)
    try:
        jobs_overview = creator.api_get("/api/v1/jobs/stats/overview")
        workers = creator.api_get("/api/v1/workers/stats/overview")
        health = creator.api.get("/ready").json()  # 503 too: the document names what fails
    finally:
        creator.close()
    chain = health.get("chain", {})
    report = {
        "jobs": jobs_overview["by_status"],
        "escrowed_reward": jobs_overview["escrowed_reward"],
        "paid_reward": jobs_overview["paid_reward"],
        "workers": workers,
        "chain": {k: chain.get(k) for k in ("head", "cursor", "lag_blocks", "rpc")},
        "queue": None,
        "daemon": health.get("dagster", {}).get("daemon"),
    }
    ui = settings.local_dagster_url
    try:
        runs = Dagster(ui).query(QUEUE)
        report["queue"] = {"queued": runs["queued"]["count"], "running": runs["running"]["count"]}
    except (httpx.HTTPError, FollowFailed):
        pass  # no Dagster on this machine (a creator's), or it is down: the rest still says
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print("jobs     " + ", ".join(f"{k} {v}" for k, v in sorted(report["jobs"].items())))
    print(
        f"workers  {workers['verified']} verified of {workers['registered']} registered, "
        f"{workers['active']} active"
    )
    c = report["chain"]
    print(f"chain    head {c['head']}, indexed up to {c['cursor']}, lag {c['lag_blocks']} blocks")
    q = report["queue"]
    print(
        f"Dagster  {q['queued']} runs queued, {q['running']} in flight"
        if q
        else f"Dagster  not reachable at {ui}"
    )
    print(f"daemon   {_daemon_line(report['daemon'], health.get('warnings', {}))}")


def _daemon_line(daemon: dict | None, warnings: dict[str, str]) -> str:
    """Dagster's daemon as `/ready` found it: alive, or why not."""
    if daemon is None:
        return "unknown (the API does not report it)"
    if daemon["status"] == "ok":
        return f"ok, last heartbeat {daemon['heartbeat_age_s']:.0f} s ago"
    return f"{daemon['status'].upper()}: {warnings.get('dagster_daemon', '')}"


def job_status(settings: Settings, url: str, job_id: int, as_json: bool) -> None:
    """One job: its state, the live attempt, the failed ones with their reasons, and the
    verdict on its latest result."""
    creator = Creator(url, None, settings)
    try:
        job = creator.api_get(f"/api/v1/jobs/{job_id}", missing_ok=True)
        if job is None:
            raise BadInput(f"job {job_id} is not known (not created, or not indexed yet)")
        attempts = creator.api_get(f"/api/v1/jobs/{job_id}/attempts", limit=50)["items"]
        outlook = creator.api_get(f"/api/v1/jobs/{job_id}/outlook")
    finally:
        creator.close()
    if as_json:
        print(json.dumps({**job, "attempts": attempts, "outlook": outlook}, indent=2))
        return
    print(f"job {job_id}  {job['status']}, deadline {job['deadline']}")
    if not outlook["renderable"]:
        print(f"FAILED   {unrenderable(outlook)}")
    if claim := job.get("claim"):
        print(f"attempt  {claim['attempt']} by {claim['worker_address']}: {claim['state']}")
    for attempt in attempts:
        if attempt["state"] in ("failed", "rejected"):
            reason = attempt["failure_reason"] or "no reason given"
            print(f"attempt  {attempt['attempt']} {attempt['state']}: {reason}")
    verification = job.get("verification")
    if verification is None:
        print("verdict  none yet")
        return
    who = "delivered" if verification["source"] == "delivery" else "submitted on chain"
    print(
        f"verdict  {verification['state']}: {verification['result_cid']} {who} by "
        f"{verification['worker_address']}"
    )
    for reason in (verification.get("report") or {}).get("reasons") or []:
        print(f"  - {reason}")
    if verification.get("front_ran"):
        print(f"  front-ran the delivery of {verification['front_ran']}")


def download(settings: Settings, args: argparse.Namespace) -> None:
    """The job's verified frame into DIR; JobFailed when it has none."""
    creator = Creator(platform_url(settings, args), None, settings)
    try:
        dest = download_frame(creator.api, args.job, Path(args.dir))
    finally:
        creator.close()
    if args.json:
        print(json.dumps({"job_id": args.job, "path": str(dest)}))
    else:
        print(f"job {args.job}: verified frame saved as {dest}")


def rate(settings: Settings, args: argparse.Namespace) -> None:
    if not 0 <= args.score <= 100:
        raise BadInput(f"score {args.score}: must be 0-100")
    creator = signed_in(settings, args)
    try:
        job = creator.api_get(f"/api/v1/jobs/{args.job}", missing_ok=True)
        if job is None:
            raise BadInput(f"job {args.job} is not known (not created, or not indexed yet)")
        if job["status"] != "finalized":
            raise CreatorError(f"job {args.job} is {job['status']}: only a paid job can be rated")
        tx = creator.rate(args.job, args.score)
    finally:
        creator.close()
    print(f"job {args.job} rated {args.score} in transaction {hex(tx)}")
