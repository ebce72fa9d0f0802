"""What Blender's log says about the GPU. (The frame itself is re-checked by
`veriframe_core.frames.check_frame`, which the platform's asset check uses too.)"""

from __future__ import annotations

import re

GPU_ERROR = re.compile(
    r"(?im)^.*("
    r"\b(cuda|optix|hip|oneapi|metal)\b.*\b(error|failed to|illegal|out of memory)"
    r"|out of (gpu|device|video) memory"
    r"|gpu (device )?(error|lost|hang)"
    r").*$"
)
"""A GPU failure Blender logs but may survive (falling back, or saving a broken frame).
The library probes of a machine without that backend ("CUEW initialization failed") are not."""
_PROBE = re.compile(r"(?i)\b(cuew|hipew)\b.*initialization failed")


def gpu_errors(log: str) -> list[str]:
    """The lines of Blender's log that report a GPU failure."""
    return [
        match.group(0).strip()
        for match in GPU_ERROR.finditer(log)
        if not _PROBE.search(match.group(0))
    ]
