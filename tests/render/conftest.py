"""Scenes made by the bpy wheel for the render tests: the demo scene, and one that carries
code which would write marker files if anything in it ran."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from render_executor.blender import scene

MALICIOUS = Path(__file__).with_name("malicious_scene.py")


def blender_python(script: Path, *args: object) -> None:
    """Run `script` with the bpy wheel's Blender, as the runner does."""
    subprocess.run(
        [sys.executable, str(script), "--", *map(str, args)],
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="package")
def demo_scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenes") / "demo.blend"
    blender_python(Path(scene.__file__), path)
    return path


@pytest.fixture
def malicious_scene(demo_scene: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the demo scene with an auto-run text block that registers handlers, and a
    Python driver expression; each writes a marker into the returned folder if it runs."""
    markers = tmp_path / "markers"
    markers.mkdir()
    path = tmp_path / "malicious.blend"
    blender_python(MALICIOUS, demo_scene, path, markers)
    return path, markers
