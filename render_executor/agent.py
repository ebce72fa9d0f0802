"""The worker agent: claim a job, render it, deliver it, report every step through Pipes.

One job, start to end (`Agent.work_on`):

1. claimed with `POST /jobs/claim-next` (the server picks; no collisions);
2. a Pipes session for the attempt opens (`render_executor.pipes`), and a heartbeat thread
   keeps the lease and reports progress; a lost lease cancels the render;
3. the asset is downloaded from IPFS (within the size cap), unpacked if it is an archive
   (`assets.fetch_scene`: no path escapes, links or bombs), rendered with the job's settings
   (`blender.runner`: nothing in the file runs; the frame re-checked);
4. the frame is uploaded to IPFS, the job completed through the API and the materialization
   reported; once a verifier has verified the delivery (`verdicts`), the result is submitted
   on chain from the worker's own account; a rejected one never is (its reasons are logged);
5. on any failure, the session is closed (its messages flushed) and the job failed with the
   reason, so it reopens for others. The scratch folder is removed either way.

Every step is logged in the worker's own log as well as in the job's Pipes session.

Between jobs it waits on the API's websocket (`wakeup`), polling as a fallback. Calls to the
API, IPFS and the chain outlast their outages (`session`, `outlasting`): a restart of any of
them delays the job in hand, which stays claimed (its lease renewed once the API is back) and
is delivered and submitted once the part is back; one the agent gives up on is released. Stopped
(`stop`, SIGTERM), it cancels the render in hand and releases the claim, which reopens the
job at once. The scratch folder of a job is made at the claim and removed at the end, so a
folder found at start is a claim of a crashed run of this agent: it is released then.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from render_executor.archives import ArchiveLimits
from render_executor.assets import Scene, SceneUnavailable, fetch_scene, render_job
from render_executor.blender.runner import BlenderRunner, RenderFailed, RenderLimits
from render_executor.capabilities import detect
from render_executor.chain import ChainSubmitter
from render_executor.metrics import AgentMetrics
from render_executor.outlasting import ONCE
from render_executor.pipes import PipesDeliveryError, open_render_pipes
from render_executor.session import api_client, download_cap, ipfs_client, worker_address
from render_executor.verdicts import await_verdict
from render_executor.wakeup import jobs_available, wait_for_work
from veriframe_core.ipfs import IpfsError
from veriframe_core.protocol import (
    Claim,
    ClaimedJob,
    CompleteRequest,
    FailRequest,
    HeartbeatRequest,
    Verification,
    WorkerProfileRequest,
    error_message,
)
from veriframe_core.settings import WorkerSettings

log = logging.getLogger("veriframe.worker")
JOBS = "/api/v1/jobs"
MAX_REASON = 500
SCRATCH = re.compile(r"^job-(\d+)-(\d+)$")
STOPPED = "the worker was stopped"
CRASHED = "the worker restarted; the render it had in hand was lost"
CLAIMS = TypeAdapter(list[Claim])


def request_body(message: BaseModel) -> dict:
    """A request body, as the API's schema has it."""
    return message.model_dump(mode="json")


def reason_given(text: str) -> FailRequest:
    """Why an attempt ends, in what the API takes (no NUL, 1-500 characters)."""
    return FailRequest(reason=text.replace("\x00", "")[:MAX_REASON] or "no reason given")


class JobFailed(Exception):
    """This job cannot be rendered by this worker now; the reason goes to the API."""


@dataclass
class Outcome:
    job_id: int
    attempt: int
    completed: bool
    result_cid: str | None = None
    reason: str | None = None
    submitted_tx: int | None = None
    verification: Verification | None = None  # the verdict on the delivery, once it came
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per step


@contextmanager
def _timed(outcome: Outcome, step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        outcome.seconds[step] = outcome.seconds.get(step, 0.0) + time.perf_counter() - started


class Agent:
    """A worker agent for one account: its API session, IPFS client, Blender and chain."""

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        submitter: ChainSubmitter | None = None,
        heartbeat_s: float | None = None,
        stopping: threading.Event | None = None,
    ):
        self.settings = settings
        self.address = worker_address(settings)
        # set by `stop`; also ends the retries of a call in an outage (the submitter's too,
        # when it was made with the same event)
        self.stopping = stopping or threading.Event()
        self.api = api_client(settings, self.address, self.stopping)
        self.ipfs = ipfs_client(settings, self.stopping)
        self.archive_limits = ArchiveLimits(max_total_bytes=download_cap(settings))
        self.runner = BlenderRunner(settings.blender_path)
        self.limits = RenderLimits(
            timeout_s=settings.worker_render_timeout_s, memory_mb=settings.worker_memory_limit_mb
        )
        self.submitter = submitter
        self.heartbeat_s = heartbeat_s
        self.wakeup = jobs_available(settings.worker_api_url) if settings.worker_websocket else None
        self.metrics = AgentMetrics("render")
        self.profile: WorkerProfileRequest | None = None
        # a delivered job's submit_result runs beside the next render, not before it
        self._chain = ThreadPoolExecutor(1, thread_name_prefix="submit")
        self._finishing: list[Future] = []

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stop(self) -> None:
        """Stop taking jobs; the render in hand is cancelled and its claim released."""
        self.stopping.set()
        if self.wakeup is not None:
            self.wakeup.wake()

    def close(self) -> None:
        if self.wakeup is not None:
            self.wakeup.close()
        self.finish_submissions()
        self._chain.shutdown()
        self.api.close()
        self.ipfs.close()

    # ------------------------------------------------------------------ the loop
    def run(self, *, once: bool = False, max_jobs: int | None = None) -> list[Outcome]:
        """Work until stopped (or, with `once`, until one job is done or none is there; or
        until `max_jobs` are done). Returns once every job's on-chain submission has ended."""
        outcomes: list[Outcome] = []
        poll = self.settings.worker_poll_s
        idle = poll
        if self.profile is None:
            self.prepare()
        try:
            while not self.stopping.is_set():
                job = self.claim_next()
                if job is not None:
                    outcomes.append(self.work_on(job))
                    idle = poll
                if once or (max_jobs is not None and len(outcomes) >= max_jobs):
                    break
                if job is None:
                    self._idle(idle)
                    idle = min(idle * 1.5, poll * 6)  # backs off while nothing comes
        finally:
            self.finish_submissions()
        return outcomes

    def prepare(self) -> None:
        """Release what a crashed run of this agent left claimed, report the machine's
        capabilities, and start listening for jobs."""
        self.release_left_over()
        try:
            self.profile = detect(
                self.runner,
                self.settings.resolved_worker_scratch_dir / "probe",
                self.settings.worker_device,
            )
        except RenderFailed as err:
            raise SystemExit(f"veriframe-worker: Blender does not work here: {err}") from None
        body = self.profile.model_dump(mode="json", exclude_unset=True)
        answer = self.api.post("/api/v1/workers/register", json=body)
        if answer.status_code != 200:
            log.warning("Worker: the profile was not stored: %s", error_message(answer))
        else:
            caps = self.profile.capabilities
            log.info(
                "Worker %s: Blender %s, devices %s",
                hex(self.address),
                caps.blender_version,
                ", ".join(caps.devices or ()),
            )
        if self.wakeup is not None:
            self.wakeup.start()

    def release_left_over(self) -> list[int]:
        """Release the running claims whose scratch folder a crashed run left behind (only
        this agent's: agents sharing an account have scratch folders of their own)."""
        root = self.settings.resolved_worker_scratch_dir
        left = {}
        for folder in root.glob("job-*"):
            if match := SCRATCH.match(folder.name):
                left[(int(match[1]), int(match[2]))] = folder
        if not left:
            return []
        answer = self.api.get(f"{JOBS}/claimed")
        answer.raise_for_status()
        released = []
        for claim in CLAIMS.validate_json(answer.content):
            if (claim.job_id, claim.attempt) in left:
                self._release(claim.job_id, CRASHED)
                released.append(claim.job_id)
        for folder in left.values():
            shutil.rmtree(folder, ignore_errors=True)
        return released

    def _idle(self, seconds: float) -> None:
        """Wait for work: woken by the websocket when a job opens (then polling only every
        6 × `worker_poll_s`, a backstop for what sends no message, e.g. a job released when
        its wait for settings ends), else polling every `seconds`."""
        wait_for_work(self.wakeup, self.stopping, seconds, self.settings.worker_poll_s * 6)

    def finish_submissions(self) -> None:
        """Wait for the on-chain submissions still in flight (each closes its job's Pipes)."""
        while self._finishing:
            try:
                self._finishing.pop(0).result()
            except Exception as err:  # the job was delivered; only its report is incomplete
                log.error("Worker: closing a delivered job's Pipes session failed: %s", err)

    def claim_next(self) -> ClaimedJob | None:
        """The next job, or None (none there, or the API could not be reached: a claim whose
        answer was lost lapses with its lease)."""
        try:
            answer = self.api.post(f"{JOBS}/claim-next")
        except httpx.HTTPError as err:
            if not self.stopping.is_set():
                log.warning("Worker: claiming failed: %s", err or type(err).__name__)
            return None
        if answer.status_code == 204:
            return None
        if answer.status_code in (403, 409) or answer.status_code >= 500:
            log.info("Worker: no claim now: %s", error_message(answer))
            return None
        answer.raise_for_status()
        try:
            return ClaimedJob.model_validate_json(answer.content)
        except ValidationError as err:  # a newer API's job: it lapses with its lease
            log.error("Worker: the claimed job is not one this agent knows: %s", err)
            return None

    # ------------------------------------------------------------------ one job
    def work_on(self, job: ClaimedJob) -> Outcome:
        started = time.perf_counter()
        job_id, attempt = job.job_id, job.claim.attempt
        scratch = self.settings.resolved_worker_scratch_dir / f"job-{job_id}-{attempt}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)  # marks the claim as this agent's until the job ends
        outcome = Outcome(job_id, attempt, completed=False)
        session = ExitStack()
        try:
            with session:
                pipes = session.enter_context(open_render_pipes(self.api, job_id, attempt))
                _say(
                    pipes,
                    "info",
                    f"Worker {hex(self.address)} took job {job_id} (attempt {attempt})",
                )
                try:
                    self._deliver(job, scratch, pipes, outcome)
                except JobFailed as failed:
                    if self.stopping.is_set():
                        _say(pipes, "warning", f"Job {job_id} released: {STOPPED}")
                    else:
                        _say(pipes, "error", f"Job {job_id} failed: {failed}")
                    raise
                if self.submitter is not None:  # the session now closes when submitted
                    later = session.pop_all()
                    self._finishing.append(
                        self._chain.submit(self._submit, later, pipes, job, outcome)
                    )
        except JobFailed as failed:
            if self.stopping.is_set():
                outcome.reason = STOPPED
                self._release(job_id, STOPPED)
            else:
                outcome.reason = str(failed)[:MAX_REASON]
                self._fail(job_id, outcome.reason)
        except (httpx.HTTPError, PipesDeliveryError) as err:  # the API gave up on, or refused
            self._unreported(outcome, err)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        outcome.seconds["job"] = time.perf_counter() - started
        ended = (
            "delivered" if outcome.completed else "stopped" if self.stopping.is_set() else "failed"
        )
        self.metrics.job(ended, outcome.seconds)
        return outcome

    def _unreported(self, outcome: Outcome, err: Exception) -> None:
        """The job's session with the API broke (an outage outlasted no longer, or a claim
        the API no longer knows): a delivered job stays delivered; any other is released."""
        job_id = outcome.job_id
        if outcome.completed:
            log.error(
                "Worker: job %d was delivered; its Pipes report is incomplete: %s", job_id, err
            )
            return
        outcome.reason = f"the API could not be reached: {err}"[:MAX_REASON]
        log.error("Worker: job %d: %s", job_id, outcome.reason)
        self._release(job_id, outcome.reason)

    def _submit(self, session: ExitStack, pipes, job: ClaimedJob, outcome: Outcome) -> None:
        """Once the delivery is verified, `submit_result` from the worker's account, logged in
        the job's Pipes session, which it then closes; a rejected or unverified delivery is
        never submitted."""
        with session:
            with _timed(outcome, "verification"):
                verdict = await_verdict(
                    self.api,
                    outcome.job_id,
                    outcome.attempt,
                    job.deadline,
                    self.stopping,
                    websocket=self.settings.worker_api_url if self.wakeup is not None else None,
                )
            outcome.verification = verdict
            self.metrics.verdict(verdict.state if verdict is not None else None)
            self.metrics.steps({"verification": outcome.seconds["verification"]})
            if not self._verified(verdict, pipes, outcome):
                return
            try:
                with _timed(outcome, "submit_on_chain"):
                    tx = self.submitter.submit_result(outcome.job_id, outcome.result_cid)
                outcome.submitted_tx = tx
                _say(pipes, "info", f"submit_result for job {outcome.job_id}: {hex(tx)}")
            except Exception as err:  # completed off-chain; the operator sees why
                _say(pipes, "error", f"submit_result for job {outcome.job_id} failed: {err}")
            self.metrics.steps({"submit_on_chain": outcome.seconds["submit_on_chain"]})

    def _verified(self, verdict: Verification | None, pipes, outcome: Outcome) -> bool:
        """Whether the delivery may go on chain; why not, in the job's and the worker's log."""
        job_id, seconds = outcome.job_id, outcome.seconds["verification"]
        if verdict is None:
            said = f"Job {job_id}: no verdict on the delivery in time; the result is not submitted"
        elif verdict.state == "rejected":
            reasons = "; ".join(verdict.report.reasons if verdict.report else []) or "no reason"
            said = f"Job {job_id}: the delivery was rejected by the verifier: {reasons}"
        else:
            _say(pipes, "info", f"Job {job_id}: the delivery was verified in {seconds:.1f} s")
            return True
        _say(pipes, "error", said)
        return False

    def _deliver(self, job: ClaimedJob, scratch: Path, pipes, outcome: Outcome) -> None:
        job_id = job.job_id
        progress = _Progress()
        with _Heartbeat(self.api, job_id, progress, self._heartbeat_s(job.claim)) as beat:
            with _timed(outcome, "download"):
                scene = self._fetch(job, scratch, pipes)
            with _timed(outcome, "render"):
                result = self._render(job, scene, scratch, pipes, progress, beat.lost)
            with _timed(outcome, "upload"):
                cid = self._upload(result.frame)
                noisy_cid = self._upload(result.noisy) if result.noisy else None
            _say(
                pipes,
                "info",
                f"Uploaded the frame of job {job_id}: {cid}"
                + (f" (noisy pass {noisy_cid})" if noisy_cid else ""),
            )
        outcome.seconds["blender_render"] = result.render_seconds
        try:
            delivery = CompleteRequest(
                result_cid=cid,
                noisy_cid=noisy_cid,
                render_time_s=round(result.render_seconds, 3),
                device=result.device,
                metadata={
                    "blender_version": result.blender_version,
                    "peak_memory_mb": round(result.peak_memory_mb, 1),
                    "width": result.width,
                    "height": result.height,
                    "size_bytes": result.size_bytes,
                },
            )
        except ValidationError as err:  # as the API would refuse it
            raise JobFailed(f"the result cannot be delivered: {err}") from None
        with _timed(outcome, "complete"):
            done = self.api.post(f"{JOBS}/{job_id}/complete", json=request_body(delivery))
        if done.status_code != 200:
            raise JobFailed(f"the API did not take the result: {error_message(done)}")
        outcome.completed, outcome.result_cid = True, cid
        _say(pipes, "info", f"Delivered job {job_id}: {cid}")
        pipes.report_asset_materialization(
            metadata={
                "result_cid": cid,
                "worker": hex(self.address),
                "device": result.device,
                "render_seconds": result.render_seconds,
                "blender_version": result.blender_version,
                "width": result.width,
                "height": result.height,
                "peak_memory_mb": result.peak_memory_mb,
            }
        )

    def _fetch(self, job: ClaimedJob, scratch: Path, pipes) -> Scene:
        try:
            scene = fetch_scene(self.ipfs, job.asset_cid, scratch, self.archive_limits)
        except SceneUnavailable as err:
            raise JobFailed(str(err)) from None
        _say(
            pipes, "info", f"Downloaded {job.asset_cid} ({scene.size:,} bytes) for job {job.job_id}"
        )
        return scene

    def _render(
        self, job: ClaimedJob, scene: Scene, scratch: Path, pipes, progress, lost: threading.Event
    ):
        wanted = render_job(scene, job.render_settings, self.settings.worker_device)
        try:
            result = self.runner.render(
                wanted,
                scratch / "render",
                self.limits,
                progress.update,
                _Either(lost, self.stopping),
            )
        except RenderFailed as err:
            raise JobFailed(err.reason) from None
        _say(
            pipes,
            "info",
            f"Rendered frame {wanted.frame} at {result.width}×{result.height} on "
            f"{result.device} in {result.render_seconds:.2f} s (Blender "
            f"{result.blender_version}) for job {job.job_id}",
        )
        return result

    def _upload(self, file: Path) -> str:
        try:
            return self.ipfs.add(file)
        except IpfsError as err:
            raise JobFailed(f"uploading {file.name} failed: {err}") from None

    def _fail(self, job_id: int, reason: str) -> None:
        answer = self._give_back(job_id, "fail", reason)
        if answer is not None and answer.status_code != 200:
            log.warning("Worker: failing job %d answered %s", job_id, error_message(answer))

    def _release(self, job_id: int, reason: str) -> None:
        answer = self._give_back(job_id, "release", reason)
        if answer is None:
            return
        if answer.status_code != 200:
            log.warning("Worker: releasing job %d answered %s", job_id, error_message(answer))
        else:
            log.info("Worker: released job %d: %s", job_id, reason)

    def _give_back(self, job_id: int, how: str, reason: str) -> httpx.Response | None:
        """`fail` or `release` the job; None when the API could not be reached (the claim
        then lapses with its lease)."""
        try:
            return self.api.post(f"{JOBS}/{job_id}/{how}", json=request_body(reason_given(reason)))
        except httpx.HTTPError as err:
            log.warning("Worker: could not %s job %d (%s); its lease will lapse", how, job_id, err)
            return None

    def _heartbeat_s(self, claim: Claim) -> float:
        if self.heartbeat_s is not None:
            return self.heartbeat_s
        return max(claim.lease_s / 4, 1.0)


def _say(pipes, level: str, line: str) -> None:
    """A line about a job, in the worker's own log and in the job's Pipes session."""
    getattr(log, level)("Worker: %s", line)
    getattr(pipes.log, level)(line)


class _Either:
    """Set when any of its events is (what the runner's `cancel` is asked)."""

    def __init__(self, *events: threading.Event):
        self.events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


class _Progress:
    def __init__(self) -> None:
        self.done, self.line = 0.0, ""

    def update(self, done: float, line: str) -> None:
        self.done, self.line = done, line


class _Heartbeat:
    """Extends the lease every `period` seconds with the render's progress; `lost` is set
    when the API says the claim is gone (the render is then cancelled)."""

    def __init__(self, api: httpx.Client, job_id: int, progress: _Progress, period: float):
        self.api, self.job_id, self.progress, self.period = api, job_id, progress, period
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat-{job_id}")

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.lost.is_set() and exc[0] is None:
            raise JobFailed(f"the lease on job {self.job_id} was lost")

    def _beat(self) -> None:
        while not self._stop.wait(self.period):
            try:
                body = HeartbeatRequest(
                    progress=self.progress.done, message=self.progress.line[:200] or None
                )
                answer = self.api.post(
                    f"{JOBS}/{self.job_id}/heartbeat", json=request_body(body), extensions=ONCE
                )
            except (httpx.HTTPError, ValidationError) as err:  # next period; the lease has slack
                log.debug("Worker: heartbeat for job %d failed: %s", self.job_id, err)
                continue
            if answer.status_code in (401, 403, 404, 409):
                log.error("Worker: lost job %d: %s", self.job_id, error_message(answer))
                self.lost.set()
                return
