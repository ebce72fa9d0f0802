"""The verifier agent: `veriframe-worker` with `VERIFRAME_WORKER_ROLE=verifier`, on one of
the operator's accounts (`api_verifier_addresses`).

One task, start to end (`VerifierAgent.verify`):

1. claimed with `POST /verifications/claim-next` (leased for `verification_lease_s`; the API
   never offers an account its own delivery);
2. the job's scene fetched as the render agent fetches it (`assets.fetch_scene`), and the
   delivered frame, within what a frame of the job's size can weigh;
3. the task's windows re-rendered at its two seeds with the job's settings, and the delivery
   judged against them (`verification.verifier.verify_frame`);
4. the verdict reported (`/report`); or, when this machine could not verify (IPFS, Blender),
   the task failed with the reason (`/fail`), so that another verifier takes it.

While idle it waits on the API's websocket (`verifications:available`, `wakeup`), polling
as a fallback.

A delivered frame that does not decode, has another size or weighs more than any frame of
its size is the worker's doing: a rejection, not a failure. Stopped (SIGTERM, Ctrl-C), the
verifier cancels Blender and releases the task (`/release`: offered again at once, counted
as nothing); a killed verifier's task is re-offered when its lease runs out.
"""

from __future__ import annotations

import logging
import math
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from render_executor.agent import MAX_REASON, request_body
from render_executor.archives import ArchiveLimits
from render_executor.assets import SceneUnavailable, fetch_scene, render_job
from render_executor.blender.runner import BlenderRunner, RenderFailed, RenderLimits
from render_executor.metrics import AgentMetrics
from render_executor.session import api_client, download_cap, ipfs_client, worker_address
from render_executor.verification.verifier import (
    FrameUnreadable,
    Verdict,
    rejected_unrendered,
    verify_frame,
)
from render_executor.wakeup import verifications_available, wait_for_work
from veriframe_core.ipfs import IpfsError, IpfsTooLarge
from veriframe_core.protocol import (
    VerificationFailure,
    VerificationReport,
    VerificationTask,
    error_message,
)
from veriframe_core.settings import WorkerSettings

log = logging.getLogger("veriframe.verifier")
TASKS = "/api/v1/verifications"
FIRST_IDLE_S = 0.5
FRAME_BYTES_PER_PIXEL = 8  # 16-bit RGBA, uncompressed: no honest frame weighs more
FRAME_SLACK_BYTES = 1 << 20  # headers, filter bytes, metadata
PASSES = "passes"
EXR_BYTES_PER_PIXEL = {"OPEN_EXR": 16, "OPEN_EXR_MULTILAYER": 64, PASSES: 18}
"""Float RGBA, uncompressed; a multilayer file carries its passes too (a denoised render's
noisy image, albedo, normal and depth beside the combined image); a denoised delivery's
passes are its noisy image, albedo and normal in half floats (`render_executor.passes`)."""


class CannotVerify(Exception):
    """This machine could not verify the delivery; the reason goes to the API."""


@dataclass
class VerifierOutcome:
    verification_id: int
    job_id: int
    attempt: int | None
    verdict: str | None = None  # verified | rejected; None: not verified here
    reasons: list[str] = field(default_factory=list)  # a rejection's, or why it failed
    seconds: float = 0.0


def finite(value: object) -> object:
    """`value` with every float made finite for JSON, which has no infinity: a statistic
    beyond any threshold (a z over a standard error of 0) is sent as ±1e9, an undefined one
    as 0."""
    if isinstance(value, float):
        return 0.0 if math.isnan(value) else max(-1e9, min(value, 1e9))
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def report_of(verdict: Verdict, comparison_cid: str | None) -> VerificationReport:
    """The verdict as the API takes it, with the CID of its crops' comparison image."""
    body = finite(verdict.report().model_dump())
    return VerificationReport.model_validate({**body, "comparison_cid": comparison_cid})


def frame_cap(width: int, height: int, output_format: str = "PNG") -> int:
    """The most bytes a delivered frame (or noisy pass) of `width` × `height` may weigh."""
    per_pixel = EXR_BYTES_PER_PIXEL.get(output_format, FRAME_BYTES_PER_PIXEL)
    return width * height * per_pixel + FRAME_SLACK_BYTES


class VerifierAgent:
    """A verifier for one operator account: its API session, IPFS client and Blender."""

    def __init__(self, settings: WorkerSettings):
        self.settings = settings
        self.address = worker_address(settings)
        self.stopping = threading.Event()  # also ends the clients' waits through an outage
        self.api = api_client(settings, self.address, self.stopping)
        self.ipfs = ipfs_client(settings, self.stopping)
        self.archive_limits = ArchiveLimits(max_total_bytes=download_cap(settings))
        self.runner = BlenderRunner(settings.blender_path)
        self.limits = RenderLimits(
            timeout_s=settings.worker_render_timeout_s, memory_mb=settings.worker_memory_limit_mb
        )
        self.scratch_root = settings.resolved_worker_scratch_dir
        self.metrics = AgentMetrics("verifier")
        self.wakeup = (
            verifications_available(settings.worker_api_url) if settings.worker_websocket else None
        )

    def __enter__(self) -> VerifierAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stop(self) -> None:
        """Stop taking tasks; the verification in hand is cancelled and released."""
        self.stopping.set()
        if self.wakeup is not None:
            self.wakeup.wake()

    def close(self) -> None:
        if self.wakeup is not None:
            self.wakeup.close()
        self.api.close()
        self.ipfs.close()

    # ------------------------------------------------------------------ the loop
    def run(self, *, once: bool = False, max_tasks: int | None = None) -> list[VerifierOutcome]:
        """Verify until stopped (or, with `once`, until one task is done or none is there; or
        until `max_tasks` are done). While idle it waits for the websocket to say a task was
        offered (polling every 6 × `worker_poll_s` as a backstop), or, while that is down,
        polls, backing off from 0.5 s to `worker_poll_s`; jittered so that verifiers do not
        claim in step."""
        for left in self.scratch_root.glob("verify-*"):  # a crashed run's; its lease re-offers
            shutil.rmtree(left, ignore_errors=True)
        log.info("Verifier %s: waiting for deliveries to verify", hex(self.address))
        if self.wakeup is not None and not once:
            self.wakeup.start()
        outcomes: list[VerifierOutcome] = []
        idle = FIRST_IDLE_S
        while not self.stopping.is_set():
            task = self.claim_next()
            if task is not None:
                outcomes.append(self.verify(task))
                idle = FIRST_IDLE_S
            if once or (max_tasks is not None and len(outcomes) >= max_tasks):
                break
            if task is None:
                wait_for_work(self.wakeup, self.stopping, idle, self.settings.worker_poll_s * 6)
                idle = min(idle * 1.5, max(self.settings.worker_poll_s, FIRST_IDLE_S))
        return outcomes

    def claim_next(self) -> VerificationTask | None:
        try:
            answer = self.api.post(f"{TASKS}/claim-next")
        except httpx.HTTPError as err:  # the API is away: asked again after the idle wait
            log.warning("Verifier: claiming a task failed: %s", err)
            return None
        if answer.status_code == 204:
            return None
        if answer.status_code == 403:
            log.warning(
                "Verifier %s: the API takes this account for no verifier (%s): list it in the "
                "API's VERIFRAME_API_VERIFIER_ADDRESSES",
                hex(self.address),
                error_message(answer),
            )
            return None
        if answer.status_code == 409 or answer.status_code >= 500:
            log.warning("Verifier %s: no task now: %s", hex(self.address), error_message(answer))
            return None
        answer.raise_for_status()
        return VerificationTask.model_validate_json(answer.content)

    # ------------------------------------------------------------------ one task
    def verify(self, task: VerificationTask) -> VerifierOutcome:
        """Verify one claimed delivery and say so to the API (report or fail)."""
        started = time.perf_counter()
        outcome = VerifierOutcome(task.verification_id, task.job_id, task.attempt)
        log.info(
            "Verifier: claimed verification %d of job %d (attempt %s by %s, result %s)",
            task.verification_id,
            task.job_id,
            task.attempt,
            task.worker_address,
            task.result_cid,
        )
        scratch = self.scratch_root / f"verify-{task.verification_id}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        try:
            verdict = self._judge(task, scratch)
            comparison_cid = self._upload_comparison(verdict)
        except CannotVerify as err:
            outcome.seconds = time.perf_counter() - started
            if self.stopping.is_set():
                log.info(
                    "Verifier: stopped during verification %d; released for another verifier",
                    task.verification_id,
                )
                self._send(task, "release", None)
                return outcome
            outcome.reasons = [str(err)[:MAX_REASON]]
            self.metrics.job("failed", {"verify": outcome.seconds})
            log.error(
                "Verifier: could not verify job %d (verification %d) in %.1f s: %s",
                task.job_id,
                task.verification_id,
                outcome.seconds,
                err,
            )
            self._send(task, "fail", VerificationFailure(reason=outcome.reasons[0]))
            return outcome
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        outcome.verdict = "verified" if verdict.passed else "rejected"
        outcome.reasons = verdict.reasons
        outcome.seconds = time.perf_counter() - started
        self.metrics.job(outcome.verdict, {"verify": outcome.seconds})
        log.info(
            "Verifier: job %d (verification %d) %s in %.1f s: %d crops, %.2f× honest noise%s",
            task.job_id,
            task.verification_id,
            outcome.verdict,
            outcome.seconds,
            len(verdict.scores),
            verdict.noise_ratio,
            "".join(f"; {reason}" for reason in verdict.reasons),
        )
        self._send(task, "report", report_of(verdict, comparison_cid))
        return outcome

    def _upload_comparison(self, verdict: Verdict) -> str | None:
        """The comparison image on IPFS, for people to see what the verdict was about; the
        verdict stands without it."""
        if verdict.comparison is None:
            return None
        try:
            return self.ipfs.add(verdict.comparison)
        except IpfsError as err:
            log.warning("Verifier: the crops' comparison was not uploaded: %s", err)
            return None

    def _judge(self, task: VerificationTask, scratch: Path) -> Verdict:
        """The verdict; CannotVerify when this machine could not reach one, a bug here
        included (another verifier then takes the task, rather than nobody)."""
        try:
            return self._verdict(task, scratch)
        except CannotVerify:
            raise
        except Exception as err:
            log.exception("Verifier: verification %d failed unexpectedly", task.verification_id)
            raise CannotVerify(f"the verifier failed: {err!r}") from err

    def _verdict(self, task: VerificationTask, scratch: Path) -> Verdict:
        started = time.perf_counter()
        wanted = task.render_settings
        seeds = (task.seeds[0], task.seeds[1])
        try:
            scene = fetch_scene(self.ipfs, task.asset_cid, scratch, self.archive_limits)
        except SceneUnavailable as err:
            raise CannotVerify(str(err)) from None
        caps = {
            "frame": frame_cap(wanted.resolution_x, wanted.resolution_y, wanted.output_format),
            "noisy pass": frame_cap(wanted.resolution_x, wanted.resolution_y, PASSES),
        }
        delivered = {"frame": task.result_cid, "noisy pass": task.noisy_cid}
        files = {name: scratch / name.replace(" ", "-") for name in delivered}
        for name, cid in delivered.items():
            try:
                if cid:
                    self.ipfs.download(cid, files[name], caps[name])
            except IpfsTooLarge as err:
                reason = f"the delivered {name} is too large: {err}"
                return rejected_unrendered(reason, task.windows, seeds, started)
            except IpfsError as err:
                raise CannotVerify(f"downloading the {name} {cid} failed: {err}") from None
        job = render_job(scene, wanted, self.settings.worker_device)
        try:
            return verify_frame(
                self.runner,
                job,
                files["frame"],
                task.windows,
                seeds,
                scratch / "crops",
                limits=self.limits,
                cancel=self.stopping,
                noisy=files["noisy pass"] if task.noisy_cid else None,
            )
        except FrameUnreadable as err:
            return rejected_unrendered(str(err), task.windows, seeds, started)
        except RenderFailed as err:
            raise CannotVerify(f"the crops did not render: {err.reason}") from None

    def _send(self, task: VerificationTask, what: str, body) -> None:
        """`report`, `fail` or `release` the task (the client outlasts an outage of the API;
        a lease that ran out meanwhile is the API's to say)."""
        path = f"{TASKS}/{task.verification_id}/{what}"
        try:
            answer = self.api.post(path, json=None if body is None else request_body(body))
        except httpx.TransportError as err:  # stopped during an outage, or given up
            log.error(
                "Verifier: %s of verification %d not sent: %s", what, task.verification_id, err
            )
            return
        if answer.status_code != 200:
            log.warning(
                "Verifier: %s of verification %d answered %s",
                what,
                task.verification_id,
                error_message(answer),
            )
