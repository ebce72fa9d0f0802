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


DENOISER_ON = """
import bpy, sys
source, saved, transparent = sys.argv[sys.argv.index("--") + 1 :]
bpy.ops.wm.open_mainfile(filepath=source, use_scripts=False)
bpy.context.scene.cycles.use_denoising = True
bpy.context.scene.render.film_transparent = transparent == "transparent"
bpy.ops.wm.save_as_mainfile(filepath=saved)
"""


def with_denoiser(source: Path, saved: Path, transparent: bool = False) -> Path:
    """`source` saved at `saved` with Cycles' denoiser on (and a transparent film: the
    world left out, alpha kept), as a creator would send it."""
    script = saved.with_suffix(".py")
    script.write_text(DENOISER_ON)
    blender_python(script, source, saved, "transparent" if transparent else "opaque")
    return saved
