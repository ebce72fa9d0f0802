"""Running scripts with the bpy wheel's Blender, as the runner does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from render_executor.blender import scene


def blender_python(script: Path | str, *args: object) -> None:
    """Run `script` with the bpy wheel's Blender (`python script -- args`)."""
    subprocess.run(
        [sys.executable, str(script), "--", *map(str, args)],
        check=True,
        capture_output=True,
        timeout=120,
    )


def make_demo_scene(path: Path) -> Path:
    """The demo scene (a cube, a light, a camera) saved at `path`."""
    blender_python(scene.__file__, path)
    return path
