"""Rendering one frame in a Blender subprocess, within a time and a memory limit.

Blender is the bpy wheel's (this Python, running `inside.py` as a script) unless a Blender
binary is given (`BLENDER_PATH`): that one runs `--background --factory-startup
--disable-autoexec --python inside.py`. Either way the same script opens the file with
scripts off and applies the job's settings, each render gets a scratch folder of its own
(user config and scripts folders inside it, so no add-on or preference of the machine's
user is loaded), and its output is watched line by line for progress.

A scene reads files from the job's folder only (`RenderJob.folder`): a library linked from
outside it is refused before Blender starts (`blendfile.outside_libraries`: Blender loads
libraries while it opens the file), and `inside.py` refuses any other path outside it once
the file is open, before anything is rendered. Either way RenderFailed names the paths.
Blender reads some files while it opens the `.blend` (volumes, caches), before that check:
on Linux the process is fenced by the kernel (`fence`), so that it can read only the
system, its own installation and the job's folder, and write only its scratch folder.

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
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from render_executor.blender import fence
from render_executor.blender.blendfile import NotABlend, outside_libraries
from render_executor.blender.checks import gpu_errors
from render_executor.passes import Passes, read_passes, write_passes
from veriframe_core.exr import ExrUnreadable
from veriframe_core.frames import FrameRejected, check_frame
from veriframe_core.verification import Window

INSIDE = Path(__file__).with_name("inside.py")
SAMPLE = re.compile(r"\bSample (\d+)/(\d+)")
EXTENSIONS = {
    "PNG": ".png",
    "JPEG": ".jpg",
    "OPEN_EXR": ".exr",
    "OPEN_EXR_MULTILAYER": ".exr",
    "TIFF": ".tif",
}
LOG_TAIL_LINES = 30
REDO_MARGIN = 32
"""Pixels of the delivered passes denoised around a window when the verifier redoes the
denoising: OpenImageDenoise looks far, and a window denoised with 32 pixels around it is
within about a level of the full frame's (bench/README.md)."""
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
    folder: Path | None = None  # the only folder it may read files from; None: its own
    frame: int = 1
    resolution: tuple[int, int] = (1920, 1080)
    samples: int = 64
    engine: str = "CYCLES"
    output_format: str = "PNG"
    device: str = "AUTO"  # AUTO (OptiX > CUDA > HIP > oneAPI > Metal > CPU), CPU or a backend
    threads: int | None = None  # None: Blender's own choice (all cores)
    denoise: bool | None = None  # Cycles' denoiser on or off; None: as the scene has it


@dataclass(frozen=True)
class RenderLimits:
    timeout_s: float = 3600
    memory_mb: int | None = None  # resident memory; None: no limit


@dataclass(frozen=True)
class CropRender:
    """One window of the frame, rendered at one seed (a verifier's reference)."""

    window: Window
    seed: int


@dataclass(frozen=True)
class CropGuide:
    """Windows a verifier places itself, where a cheap preview of the whole frame disagrees
    most with the delivered frame (`inside.guided_windows`), each rendered at both seeds.
    `frame`: its values as the crops are written (display values, or linear for OpenEXR
    jobs), H × W × 3 in a .npy."""

    frame: Path
    count: int
    side: int
    seeds: tuple[int, int]


@dataclass(frozen=True)
class CropsResult:
    images: list[Path]  # one per crop, then per guided window and seed: float32 RGBA rows
    guided: list[Window]  # the windows the guide placed, in order
    render_seconds: float
    wall_seconds: float
    cpu_seconds: float
    device: str
    blender_version: str
    margin: int  # pixels rendered around each window
    dither: float  # the scene's dither intensity, which its 8-bit frames were written with
    linear: bool = False  # the images hold linear light (an OpenEXR job's), not display values
    rounded: bool = False  # coded as the delivery is (a JPEG job's): no rounding to model
    noisy: list[Path] = field(default_factory=list)  # per image, its noisy pass (`passes`)
    redone: list[Path] = field(default_factory=list)  # per window, the frame redone from passes
    guides: list[tuple[Path, Path]] = field(default_factory=list)  # per image, albedo and normal


@dataclass(frozen=True)
class _Done:
    """A Blender process that ended well: its report, peak memory (MB), CPU time, log."""

    report: dict
    peak_mb: float
    cpu_seconds: float
    log: Path
    tail: str


@dataclass(frozen=True)
class SceneSettings:
    """A file's own render settings."""

    frame: int
    frame_range: tuple[int, int]
    resolution: tuple[int, int]
    samples: int | None  # None: an engine without samples (Workbench)
    engine: str
    output_format: str
    denoising: bool
    has_camera: bool
    blender_version: str


@dataclass(frozen=True)
class RenderResult:
    frame: Path
    width: int
    height: int
    size_bytes: int
    render_seconds: float
    wall_seconds: float
    cpu_seconds: float  # Blender's, start to exit
    device: str
    blender_version: str
    peak_memory_mb: float
    python_drivers_muted: int
    log: Path
    noisy: Path | None = None  # the denoiser's input, when it denoised (`passes`): delivered


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
        scratch = scratch.resolve()  # Blender runs in it: a relative path would be off by it
        output = scratch / f"frame{extension(job.output_format)}"
        passes = scratch / "passes.exr"
        started = time.perf_counter()
        done = self._run(
            {"mode": "render", **_settings(job), "output": str(output), "passes": str(passes)},
            scratch,
            limits,
            on_progress,
            cancel,
        )
        try:
            frame = check_frame(output, *job.resolution)
        except FrameRejected as err:
            raise RenderFailed(str(err), done.tail) from None
        return RenderResult(
            frame=output,
            width=frame.width,
            height=frame.height,
            size_bytes=frame.size_bytes,
            render_seconds=done.report["render_seconds"],
            wall_seconds=time.perf_counter() - started,
            cpu_seconds=done.cpu_seconds,
            device=done.report["device"],
            blender_version=done.report["blender_version"],
            peak_memory_mb=done.peak_mb,
            python_drivers_muted=done.report["python_drivers_muted"],
            log=done.log,
            noisy=_noisy_pass(passes, scratch / "noisy.exr", done)
            if done.report["passes"]
            else None,
        )

    def render_crops(
        self,
        job: RenderJob,
        crops: Sequence[CropRender],
        scratch: Path,
        margin: int = 0,
        limits: RenderLimits = RenderLimits(),
        cancel: Cancel | None = None,
        guide: CropGuide | None = None,
        passes: Passes | None = None,
    ) -> CropsResult:
        """Each crop's window of `job`'s frame at the crop's seed, in one Blender process
        (`inside.render_crops`; `margin` pixels around each window rendered too when the
        scene's denoiser or compositor needs them), and the `guide`'s windows: the windows'
        display values before rounding, as float32 RGBA files, and when the scene denoises,
        each one's noisy pass (linear RGB, float32). Given the delivered `passes` with the
        denoiser's guides, a scene whose only filter is the denoiser is rendered without
        it, and each window's frame is redone from the passes instead (`redone`). Setting
        `cancel` stops it."""
        scratch = scratch.resolve()
        outputs = [scratch / f"crop-{i}.rgba32f" for i in range(len(crops))]
        spec = {
            "mode": "crops",
            **_settings(job),
            "margin": margin,
            "crops": [
                {**crop.window.model_dump(), "seed": crop.seed, "output": str(output)}
                for crop, output in zip(crops, outputs, strict=True)
            ],
        }
        if guide:
            spec["guide"] = {
                "frame": str(guide.frame.resolve()),
                "count": guide.count,
                "side": guide.side,
                "seeds": list(guide.seeds),
                "output": str(scratch / "guided"),
            }
        if passes is not None and passes.guided:
            spec["redo"] = {
                "margin": REDO_MARGIN,
                "output": str(scratch / "redone"),
                "blender_version": passes.blender_version,
            }
            for name in ("noisy", "alpha", "albedo", "normal"):
                if getattr(passes, name) is not None:
                    np.save(scratch / f"delivered-{name}.npy", getattr(passes, name))
                    spec["redo"][name] = str(scratch / f"delivered-{name}.npy")
        started = time.perf_counter()
        done = self._run(spec, scratch, limits, cancel=cancel)
        images = outputs + [Path(p) for p in done.report.get("guided_images", [])]
        redone = [Path(p) for p in done.report["redone"]]
        cut = [
            _cut_passes(found, image, done.report["noisy_layer"], guides=bool(redone))
            for found, image in zip(
                done.report["passes"], images, strict=bool(done.report["passes"])
            )
        ]
        return CropsResult(
            images=images,
            guided=[Window(**w) for w in done.report.get("guided", [])],
            render_seconds=done.report["render_seconds"],
            wall_seconds=time.perf_counter() - started,
            cpu_seconds=done.cpu_seconds,
            device=done.report["device"],
            blender_version=done.report["blender_version"],
            margin=done.report["margin"],
            dither=done.report["dither"],
            linear=done.report["linear"],
            rounded=done.report["rounded"],
            noisy=[noisy for noisy, _ in cut],
            redone=redone,
            guides=[guides for _, guides in cut if guides],
        )

    def describe(self, blend: Path, scratch: Path, timeout_s: float = 120) -> SceneSettings:
        """The file's own render settings (`inside.describe`), read with nothing of it
        running: the defaults of a job or a verification that gives none."""
        spec = {"mode": "describe", "blend": str(blend.resolve()), "folder": str(blend.parent)}
        report = self._run(spec, scratch, RenderLimits(timeout_s)).report
        return SceneSettings(
            frame=report["frame"],
            frame_range=(report["frame_start"], report["frame_end"]),
            resolution=tuple(report["resolution"]),
            samples=report["samples"],
            engine=report["engine"],
            output_format=report["format"],
            denoising=report["denoising"],
            has_camera=report["has_camera"],
            blender_version=report["blender_version"],
        )

    def probe(self, scratch: Path, timeout_s: float = 120) -> dict:
        """Blender's version and the GPU devices Cycles finds, by backend (`inside.probe`)."""
        try:
            report = self._run({"mode": "probe"}, scratch, RenderLimits(timeout_s)).report
        except RenderFailed as err:
            raise RenderFailed(f"probing Blender failed: {err.reason}", err.log_tail) from None
        return {"blender_version": report["blender_version"], "gpu_devices": report["gpu_devices"]}

    def _run(
        self,
        spec: dict,
        scratch: Path,
        limits: RenderLimits,
        on_progress: Callable[[float, str], None] | None = None,
        cancel: Cancel | None = None,
    ) -> _Done:
        """`inside.py` on `spec` in `scratch`; RenderFailed unless the process ended well,
        said so, and the log shows no GPU error."""
        scratch = scratch.resolve()
        scratch.mkdir(parents=True, exist_ok=True)
        if "blend" in spec:
            _refuse_outside_libraries(Path(spec["blend"]), Path(spec["folder"]), scratch)
        mode = spec["mode"]
        result_file, spec_file = scratch / f"{mode}.json", scratch / f"{mode}-spec.json"
        log_file = scratch / ("blender.log" if mode == "render" else f"{mode}.log")
        spec_file.write_text(json.dumps({**spec, "result": str(result_file)}))
        readable = [Path(spec[k]) for k in ("folder", "blend") if k in spec]
        if "guide" in spec:  # the delivered frame the verifier's preview is compared with
            readable.append(Path(spec["guide"]["frame"]))
        walls = self._fence(scratch, readable)
        try:
            run = _Run(
                self.command(spec_file), scratch, log_file, limits, on_progress, cancel, walls
            )
        finally:
            if walls:
                walls.close()
        exit_code, peak_mb, cpu_seconds, reason = run.wait()
        tail = run.tail()
        if reason:
            raise RenderFailed(reason, tail)
        report = json.loads(result_file.read_text()) if result_file.exists() else {}
        if "refused" in report:
            raise RenderFailed(report["refused"], tail)
        if report.get("ok") is False:
            raise RenderFailed(f"Blender could not render the file: {report['error']}", tail)
        if exit_code != 0 or not report:
            raise RenderFailed(f"Blender {_exit_text(exit_code)}", tail)
        errors = gpu_errors(log_file.read_text(errors="replace"))
        if errors:
            raise RenderFailed(f"the GPU failed during the render: {errors[0]}", tail)
        return _Done(report, peak_mb, cpu_seconds, log_file, tail)

    def _fence(self, scratch: Path, scene: list[Path]) -> fence.Fence | None:
        """Blender may read the system, its own installation and the scene (the job's
        folder and its `.blend`), and write its scratch folder (`fence`)."""
        read = fence.runtime() + scene
        if self.blender_path:
            read.append(Path(shutil.which(self.blender_path) or self.blender_path).resolve().parent)
        return fence.build(read, [scratch])


def _refuse_outside_libraries(blend: Path, folder: Path, cwd: Path) -> None:
    """RenderFailed naming the libraries `blend` links from outside `folder`, or saying
    that its libraries cannot be read (then they cannot be checked either)."""
    try:
        outside = outside_libraries(blend, folder, cwd)
    except NotABlend as err:
        raise RenderFailed(f"the scene's libraries cannot be checked: {err}") from None
    if outside:
        raise RenderFailed(
            "the scene links libraries outside the job's folder, which a worker does not "
            f"load (put them in its archive): {'; '.join(outside)}"
        )


def _noisy_pass(passes: Path, out: Path, done: _Done) -> Path:
    """The passes a worker delivers (`passes.write_passes`) out of Blender's; RenderFailed if
    they are unreadable."""
    try:
        return write_passes(passes, out, done.report["blender_version"])
    except ExrUnreadable as err:
        raise RenderFailed(f"the render's noisy pass cannot be read: {err}", done.tail) from None


def _cut_passes(
    found: dict, image: Path, layer: str, guides: bool
) -> tuple[Path, tuple[Path, Path] | None]:
    """A window's noisy pass (the `layer` pass), and with `guides` the denoiser's (albedo,
    normal), out of its border render's passes (`found`: the file, and the window's place
    and size in it), as float32 RGB rows beside the window's `image`."""
    x, y, width, height = (found[k] for k in ("x", "y", "width", "height"))
    passes = read_passes(Path(found["path"]), layer)
    written = []
    for name in ("noisy", "albedo", "normal") if guides else ("noisy",):
        written.append(image.with_suffix(f".{name}"))
        getattr(passes, name)[y : y + height, x : x + width].tofile(written[-1])
    return written[0], (written[1], written[2]) if guides else None


def extension(output_format: str) -> str:
    return EXTENSIONS.get(output_format.upper(), ".img")


def _settings(job: RenderJob) -> dict:
    """The job's settings as `inside.py` reads them."""
    return {
        "blend": str(job.blend.resolve()),
        "folder": str((job.folder or job.blend.parent).resolve()),
        "frame": job.frame,
        "resolution": list(job.resolution),
        "samples": job.samples,
        "engine": job.engine,
        "format": job.output_format,
        "device": job.device,
        "threads": job.threads,
        "denoise": job.denoise,
    }


def _exit_text(code: int) -> str:
    if code < 0:
        return f"was killed by signal {signal.Signals(-code).name}"
    return f"exited with code {code}"


class _Run:
    """One Blender process: its output read into the log and the progress callback, its
    memory watched, its time bounded; the whole process group killed past a limit."""

    def __init__(
        self,
        argv,
        scratch: Path,
        log_file: Path,
        limits: RenderLimits,
        on_progress,
        cancel,
        walls: fence.Fence | None,
    ):
        home = scratch / "home"
        env = {
            **os.environ,
            "HOME": str(home),
            "BLENDER_USER_CONFIG": str(home / "config"),
            "BLENDER_USER_SCRIPTS": str(home / "scripts"),
            "BLENDER_USER_DATAFILES": str(home / "datafiles"),
            "PYTHONNOUSERSITE": "1",
            "TMPDIR": str(scratch),  # Blender's session folder: the only place it may write
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
            preexec_fn=lambda: _in_child(walls),
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

    def wait(self) -> tuple[int, float, float, str | None]:
        """Exit code, peak resident memory (MB), CPU seconds and why it was stopped (None:
        it ended)."""
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
        cpu = usage.ru_utime + usage.ru_stime
        return code, max(peak_kb, usage.ru_maxrss) / 1024, cpu, reason

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.killpg(self.proc.pid, signal.SIGKILL)

    def tail(self) -> str:
        return "\n".join(self.lines)


def _in_child(walls: fence.Fence | None) -> None:
    """In the child: Linux kills Blender when the agent dies (even by SIGKILL), so a crashed
    agent leaves no render running that nobody will deliver; and Blender is fenced in."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if walls:
        walls.enter()


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
