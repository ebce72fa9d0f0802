"""The `render` asset: one partition per chain job, materialized when the job is delivered.

Its run does not render and never waits. The render sensor requests it once an attempt has
an outcome to record, tagged with what it records:

- a delivered attempt once its verification decided it (`veriframe/attempt`): the run
  replays what the worker reported through Pipes over the API (stored in the warehouse) as
  its logs, and records the materialization with the platform's own facts (the result CID
  the API checked, the worker that held the claim, the verifiers' verdict with its scores)
  beside what the worker reported (device, render time, Blender version); a rejected
  delivery is recorded as such, and its `frame_verified` check fails;
- a round of `render_max_failed_attempts` failed or expired attempts
  (`veriframe/failed_round`): the run fails with their reasons.

Re-executed, a run records the same attempt or round again.
"""

from typing import Any, NoReturn

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.render.partitions import (
    ATTEMPT_TAG,
    FAILED_ROUND_TAG,
    RENDER_PARTITIONS,
    RENDER_TAG,
)
from veriframe_dagster.defs.render.pipes import NoInjection, StoredMessageReader
from veriframe_dagster.resources import IpfsResource, RenderingResource, WarehouseResource

RENDER_KEY = dg.AssetKey("render")
REPORTED = ("device", "render_seconds", "blender_version", "width", "height", "peak_memory_mb")
ENDED = ("failed", "expired")
"""Attempt states that count as failures (a lapsed lease or a release too, as for rounds)."""
DELIVERED = ("completed", "verifying", "verified", "rejected")
VERDICT = sa.text(
    """
    SELECT state, verifier_address, report, jsonb_array_length(windows) AS windows, noisy_cid
    FROM verifications WHERE attempt_id = :attempt_id
    """
)
ATTEMPTS = sa.text(
    """
    SELECT id, attempt, worker_address, state, result_cid, result, failure_reason
    FROM job_attempts WHERE job_id = :job_id ORDER BY attempt
    """
)


def _failure(job_id: int, attempt: dict[str, Any]) -> tuple[str, str]:
    """The failed attempt as the run fails with it, and as its log line."""
    reason = attempt["failure_reason"] or "its lease expired"
    line = (
        f"Job {job_id}: attempt {attempt['attempt']} by {attempt['worker_address']} "
        f"{attempt['state']}: {reason}"
    )
    return f"attempt {attempt['attempt']}: {reason}", line


def _failed_round(
    context: dg.AssetExecutionContext, job_id: int, failed: list[dict[str, Any]], size: int
) -> NoReturn:
    """Fail the run with the reasons of round `veriframe/failed_round` of failed attempts."""
    number = int(context.run.tags[FAILED_ROUND_TAG])
    reasons = []
    for attempt in failed[number * size : (number + 1) * size]:
        reason, line = _failure(job_id, attempt)
        context.log.warning(line)
        reasons.append(reason)
    raise dg.Failure(
        description=f"job {job_id} failed {len(reasons)} attempts: " + "; ".join(reasons),
        metadata={"failures": reasons},
    )


@dg.asset(
    key=RENDER_KEY,
    partitions_def=RENDER_PARTITIONS,
    group_name="render",
    op_tags={RENDER_TAG: "true"},
    kinds={"blender", "ipfs"},
    description="A job's rendered frame on IPFS, delivered by a worker agent; the partition "
    "key is the chain job id. Materialized from the worker's Pipes messages.",
)
def render(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    ipfs: IpfsResource,
    rendering: RenderingResource,
) -> dg.MaterializeResult:
    job_id = int(context.partition_key)
    engine = warehouse.engine()
    with engine.connect() as conn:
        attempts = [dict(a) for a in conn.execute(ATTEMPTS, {"job_id": job_id}).mappings()]
    failed = [a for a in attempts if a["state"] in ENDED]
    tags = context.run.tags
    if FAILED_ROUND_TAG in tags:
        _failed_round(context, job_id, failed, rendering.max_failed_attempts)
    if ATTEMPT_TAG not in tags:
        raise dg.Failure(
            f"this run names no attempt of job {job_id} to record (tag {ATTEMPT_TAG}): the "
            "render sensor requests the runs that record; re-execute one of them instead"
        )
    number = int(tags[ATTEMPT_TAG])
    attempt = next((a for a in attempts if a["attempt"] == number), None)
    if attempt is None or attempt["state"] not in DELIVERED:
        state = "missing" if attempt is None else attempt["state"]
        raise dg.Failure(f"attempt {number} of job {job_id} delivered nothing ({state})")
    earlier = [a for a in failed if a["attempt"] < number]
    for failure in earlier:
        context.log.warning(_failure(job_id, failure)[1])
    with dg.open_pipes_session(
        context, NoInjection(), StoredMessageReader(engine, attempt["id"])
    ) as session:
        reported = [r for r in session.get_results() if isinstance(r, dg.MaterializeResult)]
    with engine.connect() as conn:
        verdict = conn.execute(VERDICT, {"attempt_id": attempt["id"]}).first()
    metadata = _metadata(context, ipfs, job_id, attempt, reported, len(earlier))
    return dg.MaterializeResult(metadata={**metadata, **_verdict(ipfs, job_id, verdict)})


def _verdict(ipfs: IpfsResource, job_id: int, verdict: sa.Row | None) -> dict[str, object]:
    """What the verifiers found of the delivery: the verdict, its reasons and scores, and
    each crop as delivered beside the verifier's render."""
    if verdict is None:
        return {"verdict": "not verified"}
    report = verdict.report or {}
    crops = len(report.get("crops") or []) or verdict.windows  # drawn and guided, once scored
    found: dict[str, object] = {"verdict": verdict.state, "crops": crops}
    if verdict.verifier_address:
        found["verifier"] = verdict.verifier_address
    for key in ("noise_ratio", "noise_z", "noise_level", "seconds", "cpu_seconds"):
        if report.get(key) is not None:
            found[f"verification_{key}"] = report[key]
    if verdict.noisy_cid:  # a denoised frame: its cost shows in the render before the denoiser
        found["noisy_pass_cid"] = verdict.noisy_cid
    if report.get("redone"):
        found["frame_judged_against"] = "its delivered passes denoised again"
    if report.get("noisy_crops"):
        ratios = [crop["noise_ratio"] for crop in report["noisy_crops"]]
        found["noisy_pass_noise_ratio_max"] = max(ratios)
    if report.get("reasons"):
        found["rejected_because"] = dg.MetadataValue.md(
            "\n".join(f"- {reason}" for reason in report["reasons"])
        )
    if report.get("comparison_cid"):
        link = ipfs.link(report["comparison_cid"])
        found["crops_compared"] = dg.MetadataValue.md(
            f"![job {job_id}: each crop as delivered (left) and as the verifier rendered it]"
            f"({link})"
        )
    return found


def _metadata(
    context: dg.AssetExecutionContext,
    ipfs: IpfsResource,
    job_id: int,
    attempt: dict[str, Any],
    reported: list[dg.MaterializeResult],
    failures: int,
) -> dict[str, object]:
    """The delivery's facts, with what the worker reported beside them."""
    claimed = {**(attempt["result"] or {})}
    worker_said = {k: v.value for r in reported for k, v in (r.metadata or {}).items()}
    if worker_said.get("result_cid") not in (None, attempt["result_cid"]):
        context.log.warning(
            f"Job {job_id}: the worker reported CID {worker_said['result_cid']} through Pipes "
            f"but delivered {attempt['result_cid']}; the delivered one is recorded"
        )
    cid = attempt["result_cid"]
    image = ipfs.link(cid)  # the CID was checked on delivery
    caption = (
        "REJECTED by verification: not the job's result"
        if attempt["state"] == "rejected"
        else "frame rendered by the worker"
    )
    metadata: dict[str, object] = {
        "image": dg.MetadataValue.md(f"![job {job_id}, {caption}]({image})"),
        "result_cid": cid,
        "preview": dg.MetadataValue.url(image),
        "worker": attempt["worker_address"],
        "attempts": attempt["attempt"],
        "failed_attempts": failures,
    }
    for key in REPORTED:
        value = worker_said.get(key, claimed.get(key))
        if value is not None:
            metadata[key] = value
    if "render_time_s" in claimed and "render_seconds" not in metadata:
        metadata["render_seconds"] = claimed["render_time_s"]
    return metadata
