"""Running scripts with the bpy wheel's Blender, as the runner does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def blender_python(script: Path | str, *args: object) -> None:
    """Run `script` with the bpy wheel's Blender (`python script -- args`)."""
    subprocess.run(
        [sys.executable, str(script), "--", *map(str, args)],
        check=True,
        capture_output=True,
        timeout=120,
    )
