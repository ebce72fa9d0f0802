"""Rendering with the bpy wheel in a subprocess: the job's settings, progress, limits, and
nothing from the file ever running. Tiny frames on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from render_executor.blender.runner import BlenderRunner, RenderFailed, RenderJob, RenderLimits
from tests.support.blender import blender_python

HERE = Path(__file__).parent
runner = BlenderRunner()


def tiny(blend: Path, **settings) -> RenderJob:
    return RenderJob(blend, **{"resolution": (64, 48), "samples": 8, "threads": 1, **settings})


def test_a_frame_is_rendered_with_the_jobs_settings_and_reported(
    demo_scene: Path, tmp_path: Path
) -> None:
    progress: list[float] = []
    result = runner.render(
        tiny(demo_scene, frame=3),  # the file says 320×240
        tmp_path / "scratch",
        on_progress=lambda done, line: progress.append(done),
    )
    assert (result.width, result.height) == (64, 48)
    assert result.frame.read_bytes().startswith(b"\x89PNG")
    assert result.device == "CPU" and result.blender_version == "5.0.1"
    assert 0 < result.render_seconds < result.wall_seconds
    assert result.peak_memory_mb > 50  # Blender's own footprint, measured
    assert progress and progress == sorted(progress) and progress[-1] == 1.0
    assert "Sample 8/8" in result.log.read_text()


def test_the_output_format_is_the_jobs(demo_scene: Path, tmp_path: Path) -> None:
    result = runner.render(tiny(demo_scene, output_format="JPEG"), tmp_path)
    assert result.frame.suffix == ".jpg" and result.frame.read_bytes()[:3] == b"\xff\xd8\xff"


def test_a_relative_scratch_folder_works(
    demo_scene: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default data folder is relative (`.veriframe`), and Blender runs inside its
    scratch folder: the probe and the render still find their files."""
    monkeypatch.chdir(tmp_path)
    assert runner.probe(Path("relative") / "probe")["blender_version"] == "5.0.1"
    result = runner.render(tiny(demo_scene), Path("relative") / "render")
    assert result.frame == tmp_path / "relative" / "render" / "frame.png"
    assert result.frame.is_file()


def test_nothing_in_the_file_runs(malicious_scene: tuple[Path, Path], tmp_path: Path) -> None:
    blend, markers = malicious_scene
    result = runner.render(tiny(blend, frame=2), tmp_path / "scratch")
    assert list(markers.iterdir()) == []
    assert result.python_drivers_muted == 1
    assert (result.width, result.height) == (64, 48)


def test_the_malicious_scene_does_run_code_when_trusted(
    malicious_scene: tuple[Path, Path], tmp_path: Path
) -> None:
    """The control: opened the way an unsafe worker would, its code writes every marker."""
    blend, markers = malicious_scene
    blender_python(HERE / "trusting_render.py", blend, tmp_path / "out.png")
    assert {p.name for p in markers.iterdir()} == {"autorun", "handler", "driver"}


def test_a_corrupt_file_fails_with_blenders_reason(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.blend"
    corrupt.write_bytes(b"BLENDER-v500" + b"\0" * 200)
    with pytest.raises(RenderFailed, match="could not render the file") as failure:
        runner.render(tiny(corrupt), tmp_path / "scratch")
    assert "Failed to read blend file" in failure.value.reason


def test_a_render_past_its_time_limit_is_stopped(demo_scene: Path, tmp_path: Path) -> None:
    job = tiny(demo_scene, resolution=(640, 480), samples=100_000)
    with pytest.raises(RenderFailed, match=r"took longer than its 1\.5 s"):
        runner.render(job, tmp_path, RenderLimits(timeout_s=1.5))


def test_a_render_past_its_memory_limit_is_stopped(demo_scene: Path, tmp_path: Path) -> None:
    with pytest.raises(RenderFailed, match="memory limit of 100 MB"):
        runner.render(tiny(demo_scene), tmp_path, RenderLimits(memory_mb=100))


def test_a_gpu_backend_that_is_not_there_is_an_error_not_a_cpu_render(
    demo_scene: Path, tmp_path: Path
) -> None:
    with pytest.raises(RenderFailed, match="no OPTIX device on this machine"):
        runner.render(tiny(demo_scene, device="OPTIX"), tmp_path)


def test_an_unknown_engine_is_refused(demo_scene: Path, tmp_path: Path) -> None:
    with pytest.raises(RenderFailed, match="unknown engine 'POVRAY'"):
        runner.render(tiny(demo_scene, engine="POVRAY"), tmp_path)


def test_a_blender_binary_runs_the_same_script_headless_with_scripts_off() -> None:
    command = BlenderRunner("/opt/blender/blender").command(Path("/scratch/spec.json"))
    assert command[0] == "/opt/blender/blender"
    assert {"--background", "--factory-startup", "--disable-autoexec"} <= set(command)
    assert command[command.index("--python") + 1].endswith("inside.py")
    assert command[-2:] == ["--", "/scratch/spec.json"]
