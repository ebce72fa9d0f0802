"""Rendering one frame in a Blender subprocess, within a time and a memory limit.

Blender is the bpy wheel's (this Python, running `inside.py` as a script) unless a Blender
binary is given (`BLENDER_PATH`): that one runs `--background --factory-startup
--disable-autoexec --python inside.py`. Either way the same script opens the file with
scripts off and applies the job's settings, each render gets a scratch folder of its own
(user config and scripts folders inside it, so no add-on or preference of the machine's
user is loaded), and its output is watched line by line for progress.

A render succeeds only when the process exits 0, the script reports success, the log shows
no GPU error and the frame passes `checks.check_frame`; otherwise RenderFailed says why,
with the log's last lines.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from render_executor.blender.checks import gpu_errors
from veriframe_core.frames import FrameRejected, check_frame

INSIDE = Path(__file__).with_name("inside.py")
SAMPLE = re.compile(r"\bSample (\d+)/(\d+)")
EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "OPEN_EXR": ".exr", "TIFF": ".tif", "WEBP": ".webp"}
LOG_TAIL_LINES = 30
MEMORY_POLL_S = 0.2
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
"""Loaded before any fork: the child only calls into it."""


class Cancel(Protocol):
    """What stops a render when set: a `threading.Event`, or anything with `is_set`."""

    def is_set(self) -> bool: ...


class RenderFailed(RuntimeError):
    """The render did not produce a good frame; `reason` is for the job's failure report."""

    def __init__(self, reason: str, log_tail: str = ""):
        super().__init__(
            f"{reason}\n--- Blender log (last lines) ---\n{log_tail}" if log_tail else reason
        )
        self.reason = reason
        self.log_tail = log_tail


@dataclass(frozen=True)
class RenderJob:
    """What to render: the file, and the job's settings (never the file's own)."""

    blend: Path
    frame: int = 1
    resolution: tuple[int, int] = (1920, 1080)
    samples: int = 64
    engine: str = "CYCLES"
    output_format: str = "PNG"
    device: str = "AUTO"  # AUTO (OptiX > CUDA > HIP > oneAPI > Metal > CPU), CPU or a backend
    threads: int | None = None  # None: Blender's own choice (all cores)


@dataclass(frozen=True)
class RenderLimits:
    timeout_s: float = 3600
    memory_mb: int | None = None  # resident memory; None: no limit


@dataclass(frozen=True)
class RenderResult:
    frame: Path
    width: int
    height: int
    size_bytes: int
    render_seconds: float
    wall_seconds: float
    device: str
    blender_version: str
    peak_memory_mb: float
    python_drivers_muted: int
    log: Path


class BlenderRunner:
    """Renders with the bpy wheel (`blender_path` None) or the Blender binary at the path."""

    def __init__(self, blender_path: str | Path | None = None):
        self.blender_path = str(blender_path) if blender_path else None

    def command(self, spec: Path) -> list[str]:
        if self.blender_path is None:
            return [sys.executable, "-I", str(INSIDE), "--", str(spec)]
        return [
            self.blender_path,
            "--background",
            "--factory-startup",
            "--disable-autoexec",
            "--python-exit-code",
            "3",
            "--python",
            str(INSIDE),
            "--",
            str(spec),
        ]

    def render(
        self,
        job: RenderJob,
        scratch: Path,
        limits: RenderLimits = RenderLimits(),
        on_progress: Callable[[float, str], None] | None = None,
        cancel: Cancel | None = None,
    ) -> RenderResult:
        """Render `job` in `scratch` (created; the caller removes it). `on_progress` gets the
        fraction done (0–1) and Blender's status line as they come; setting `cancel` stops
        the render (RenderFailed)."""
        scratch.mkdir(parents=True, exist_ok=True)
        output = scratch / f"frame{EXTENSIONS.get(job.output_format.upper(), '.img')}"
        result_file, spec_file, log_file = (
            scratch / n for n in ("result.json", "spec.json", "blender.log")
        )
        spec_file.write_text(
            json.dumps(
                {
                    "blend": str(job.blend.resolve()),
                    "output": str(output),
                    "result": str(result_file),
                    "frame": job.frame,
                    "resolution": list(job.resolution),
                    "samples": job.samples,
                    "engine": job.engine,
                    "format": job.output_format,
                    "device": job.device,
                    "threads": job.threads,
                }
            )
        )
        started = time.perf_counter()
        run = _Run(self.command(spec_file), scratch, log_file, limits, on_progress, cancel)
        exit_code, peak_mb, reason = run.wait()
        tail = run.tail()
        if reason:
            raise RenderFailed(reason, tail)
        report = json.loads(result_file.read_text()) if result_file.exists() else {}
        if report.get("ok") is False:
            raise RenderFailed(f"Blender could not render the file: {report['error']}", tail)
        if exit_code != 0 or not report:
            raise RenderFailed(f"Blender {_exit_text(exit_code)}", tail)
        errors = gpu_errors(log_file.read_text(errors="replace"))
        if errors:
            raise RenderFailed(f"the GPU failed during the render: {errors[0]}", tail)
        try:
            frame = check_frame(output, *job.resolution)
        except FrameRejected as err:
            raise RenderFailed(str(err), tail) from None
        return RenderResult(
            frame=output,
            width=frame.width,
            height=frame.height,
            size_bytes=frame.size_bytes,
            render_seconds=report["render_seconds"],
            wall_seconds=time.perf_counter() - started,
            device=report["device"],
            blender_version=report["blender_version"],
            peak_memory_mb=peak_mb,
            python_drivers_muted=report["python_drivers_muted"],
            log=log_file,
        )

    def probe(self, scratch: Path, timeout_s: float = 120) -> dict:
        """Blender's version and the GPU devices Cycles finds, by backend (`inside.probe`)."""
        scratch.mkdir(parents=True, exist_ok=True)
        result_file, spec_file = scratch / "probe.json", scratch / "probe-spec.json"
        spec_file.write_text(json.dumps({"probe": True, "result": str(result_file)}))
        run = _Run(
            self.command(spec_file),
            scratch,
            scratch / "probe.log",
            RenderLimits(timeout_s),
            None,
            None,
        )
        exit_code, _, reason = run.wait()
        report = json.loads(result_file.read_text()) if result_file.exists() else {}
        if reason or exit_code != 0 or not report.get("ok"):
            why = reason or report.get("error") or f"Blender {_exit_text(exit_code)}"
            raise RenderFailed(f"probing Blender failed: {why}", run.tail())
        return {"blender_version": report["blender_version"], "gpu_devices": report["gpu_devices"]}


def _exit_text(code: int) -> str:
    if code < 0:
        return f"was killed by signal {signal.Signals(-code).name}"
    return f"exited with code {code}"


class _Run:
    """One Blender process: its output read into the log and the progress callback, its
    memory watched, its time bounded; the whole process group killed past a limit."""

    def __init__(
        self, argv, scratch: Path, log_file: Path, limits: RenderLimits, on_progress, cancel
    ):
        home = scratch / "home"
        env = {
            **os.environ,
            "HOME": str(home),
            "BLENDER_USER_CONFIG": str(home / "config"),
            "BLENDER_USER_SCRIPTS": str(home / "scripts"),
            "BLENDER_USER_DATAFILES": str(home / "datafiles"),
            "PYTHONNOUSERSITE": "1",
        }
        self.limits = limits
        self.on_progress = on_progress
        self.cancel = cancel or threading.Event()
        self.lines: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self.log = log_file.open("w")
        self.proc = subprocess.Popen(
            argv,
            cwd=scratch,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.log.write(line)
            self.lines.append(line.rstrip())
            if self.on_progress and (match := SAMPLE.search(line)):
                done, total = int(match[1]), int(match[2])
                self.on_progress(min(done / total, 1.0) if total else 0.0, line.strip())

    def wait(self) -> tuple[int, float, str | None]:
        """Exit code, peak resident memory (MB) and why it was stopped (None: it ended)."""
        deadline = time.monotonic() + self.limits.timeout_s
        peak_kb, reason = 0, None
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            rss_kb = _rss_kb(self.proc.pid)
            peak_kb = max(peak_kb, rss_kb)
            limit = self.limits.memory_mb
            if limit is not None and rss_kb > limit * 1024:
                reason = f"Blender used more than the memory limit of {limit:,} MB; stopped"
            elif self.cancel.is_set():
                reason = "the render was cancelled"
            elif time.monotonic() > deadline:
                reason = (
                    f"the render took longer than its {self.limits.timeout_s:g} s limit; stopped"
                )
            if reason:
                self._kill()
                _, status, usage = os.wait4(self.proc.pid, 0)
                break
            time.sleep(MEMORY_POLL_S)
        self.proc.returncode = code = os.waitstatus_to_exitcode(status)
        self.reader.join(10)
        self.log.close()
        return code, max(peak_kb, usage.ru_maxrss) / 1024, reason

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.killpg(self.proc.pid, signal.SIGKILL)

    def tail(self) -> str:
        return "\n".join(self.lines)


def _die_with_parent() -> None:
    """In the child: Linux kills Blender when the agent dies (even by SIGKILL), so a crashed
    agent leaves no render running that nobody will deliver. Elsewhere it does nothing."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _rss_kb(pid: int) -> int:
    """Resident memory of a process in KiB (Linux /proc; 0 where that is not readable)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
