"""A scene for the render tests that carries code which would write marker files if anything
in it ran (the demo scene is the session's, in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.blender import blender_python

MALICIOUS = Path(__file__).with_name("malicious_scene.py")
OUTSIDE = Path(__file__).with_name("outside_scenes.py")


@pytest.fixture
def malicious_scene(demo_scene: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the demo scene with an auto-run text block that registers handlers, and a
    Python driver expression; each writes a marker into the returned folder if it runs."""
    markers = tmp_path / "markers"
    markers.mkdir()
    path = tmp_path / "malicious.blend"
    blender_python(MALICIOUS, demo_scene, path, markers)
    return path, markers


@pytest.fixture(scope="session")
def outside_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`outside_scenes.py`'s folder: `job/` (the scenes, the job's texture) and `outside/`
    (the worker's files: a magenta image and a library)."""
    root = tmp_path_factory.mktemp("outside")
    blender_python(OUTSIDE, root)
    return root
