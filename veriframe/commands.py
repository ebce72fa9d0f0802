"""`veriframe submit`, `status` and `rate`: a creator's and an operator's daily commands,
through the platform's public faces (API, IPFS, chain, Dagster's GraphQL API). Every failure
is one sentence, not a traceback."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

import httpx

from veriframe.creator import Creator, CreatorAccount, CreatorError, upload
from veriframe.follow import Dagster, FollowFailed, follow
from veriframe_core.settings import Settings

TOKEN_DECIMALS = 18
QUEUE = """
query Queue {
  queued: runsOrError(filter: {statuses: [QUEUED]}) { ... on Runs { count } }
  running: runsOrError(filter: {statuses: [STARTING, STARTED]}) { ... on Runs { count } }
}
"""


def urls(settings: Settings) -> tuple[str, str, str]:
    """The API, the IPFS RPC API and the Dagster UI this machine's `veriframe up` serves."""
    return (
        settings.local_api_url,
        settings.ipfs_api_url or settings.local_ipfs_url,
        settings.local_dagster_url,
    )


def token_amount(text: str) -> int:
    """'1.5' tokens as base units (18 decimals), exactly."""
    try:
        amount = Decimal(text) * 10**TOKEN_DECIMALS
    except InvalidOperation:
        raise CreatorError(f"--reward {text!r} is not a number of tokens") from None
    if amount <= 0 or amount != amount.to_integral_value():
        raise CreatorError(f"--reward {text!r}: must be positive, at most 18 decimals")
    return int(amount)


def resolution(text: str) -> tuple[int, int]:
    try:
        width, height = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise CreatorError(
            f"--resolution {text!r}: expected WIDTHxHEIGHT, e.g. 1920x1080"
        ) from None
    return width, height


def submit(settings: Settings, args: argparse.Namespace) -> None:
    api_url, ipfs_api, ui = urls(settings)
    path = Path(args.path)
    reward = token_amount(args.reward)
    width, height = resolution(args.resolution)
    render = {
        "frame": args.frame,
        "resolution_x": width,
        "resolution_y": height,
        "samples": args.samples,
        "engine": args.engine,
    }
    creator = Creator(CreatorAccount.from_settings(settings), api_url)
    try:
        cid = _reachable(lambda: upload(ipfs_api, path), f"the IPFS node at {ipfs_api}")
        print(f"uploaded {path} as {cid}", flush=True)
        try:
            job_id = creator.create_job(cid, reward, args.deadline, args.min_reputation)
        except Exception as err:  # the node down, or the contract's refusal (its message)
            raise CreatorError(f"creating the job on chain failed: {err}") from None
        print(f"job {job_id} created on chain", flush=True)
        _reachable(lambda: creator.attach(job_id, render), f"the API at {api_url}")
        dagster = Dagster(ui)
        print(f"job {job_id}: {dagster.partition_url(job_id)}", flush=True)
        if args.no_wait:
            return
        done = follow(creator.api, dagster, job_id, until="materialized", timeout_s=args.timeout)
        print(f"\nrendered: {ipfs_api}/ipfs/{done.result_cid}")
    finally:
        creator.close()


def rate(settings: Settings, args: argparse.Namespace) -> None:
    if not 0 <= args.score <= 100:
        raise CreatorError(f"score {args.score}: must be 0-100")
    api_url, _, _ = urls(settings)
    creator = Creator(CreatorAccount.from_settings(settings), api_url)
    try:
        tx = creator.rate(args.job, args.score)
    except Exception as err:  # the contract's refusal, or the node down
        raise CreatorError(f"rating job {args.job} failed: {err}") from None
    finally:
        creator.close()
    print(f"job {args.job} rated {args.score} in transaction {hex(tx)}")


def status(settings: Settings, args: argparse.Namespace) -> None:
    api_url, _, ui = urls(settings)
    if args.job is not None:
        return job_status(api_url, args.job, args.json)
    with httpx.Client(base_url=api_url, timeout=10) as api:
        jobs = _reachable(lambda: _get(api, "/api/v1/jobs/stats/overview"), f"the API at {api_url}")
        workers = _get(api, "/api/v1/workers/stats/overview")
        health = api.get("/ready").json()  # 503 too: the document names what fails
    chain = health.get("chain", {})
    report = {
        "jobs": jobs["by_status"],
        "escrowed_reward": jobs["escrowed_reward"],
        "paid_reward": jobs["paid_reward"],
        "workers": workers,
        "chain": {k: chain.get(k) for k in ("head", "cursor", "lag_blocks", "rpc")},
        "queue": None,
        "daemon": health.get("dagster", {}).get("daemon"),
    }
    try:
        runs = Dagster(ui).query(QUEUE)
        report["queue"] = {"queued": runs["queued"]["count"], "running": runs["running"]["count"]}
    except (httpx.HTTPError, FollowFailed):
        pass  # Dagster down: the rest still says something
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


def job_status(api_url: str, job_id: int, as_json: bool) -> None:
    """One job: its state, the live attempt, and the verdict on its latest result."""
    with httpx.Client(base_url=api_url, timeout=10) as api:
        answer = _reachable(lambda: api.get(f"/api/v1/jobs/{job_id}"), f"the API at {api_url}")
    if answer.status_code == 404:
        raise CreatorError(f"job {job_id} is not known (not created, or not indexed yet)")
    answer.raise_for_status()
    job = answer.json()
    if as_json:
        print(json.dumps(job, indent=2))
        return
    print(f"job {job_id}  {job['status']}, deadline {job['deadline']}")
    if claim := job.get("claim"):
        print(f"attempt  {claim['attempt']} by {claim['worker_address']}: {claim['state']}")
    verification = job.get("verification")
    if verification is None:
        print("verdict  none yet")
        return
    verdict = verification["state"]
    who = "delivered" if verification["source"] == "delivery" else "submitted on chain"
    print(
        f"verdict  {verdict}: {verification['result_cid']} {who} by "
        f"{verification['worker_address']}"
    )
    report = verification.get("report") or {}
    for reason in report.get("reasons") or []:
        print(f"  - {reason}")
    if verification.get("front_ran"):
        print(f"  front-ran the delivery of {verification['front_ran']}")


def _get(api: httpx.Client, path: str) -> dict:
    answer = api.get(path)
    answer.raise_for_status()
    return answer.json()


def _reachable(call, what: str):
    try:
        return call()
    except httpx.ConnectError:
        raise CreatorError(
            f"{what} is not reachable: is the platform running (`veriframe up`)?"
        ) from None
