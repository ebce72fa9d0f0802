"""What this machine renders with, for the worker's profile (`POST /workers/register`): the
API matches jobs' required devices, VRAM, Blender version and OS against it.

Cycles' own device list (from a Blender probe) says which GPU backends work; `nvidia-smi`,
where it is installed, adds the model and VRAM. Without a GPU the profile says CPU.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from render_executor.blender.inside import DEVICE_ORDER
from render_executor.blender.runner import BlenderRunner
from veriframe_core.protocol import Capabilities, WorkerProfileRequest

OS_NAMES = {"linux": "linux", "win32": "windows", "darwin": "macos"}
VERSION = re.compile(r"^\d{1,3}(?:\.\d{1,3}){0,2}")


def nvidia_gpus(smi_output: str) -> list[dict[str, Any]]:
    """GPUs from `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`."""
    gpus = []
    for line in smi_output.splitlines():
        name, _, memory = line.rpartition(",")
        if name.strip() and memory.strip().isdigit():
            gpus.append({"name": name.strip(), "vram_mb": int(memory)})
    return gpus


def _query_nvidia() -> list[dict[str, Any]]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return nvidia_gpus(out)


def profile(
    probe: dict[str, Any], gpus: list[dict[str, Any]], requested_device: str = "AUTO"
) -> WorkerProfileRequest:
    """The profile from a Blender probe (`BlenderRunner.probe`) and the GPUs found; a worker
    set to one device offers only that one. Only what was found is set (`exclude_unset`)."""
    found = probe["gpu_devices"]
    devices = [b for b in DEVICE_ORDER if found.get(b)] + ["CPU"]
    requested = requested_device.upper()
    if requested != "AUTO":
        devices = [d for d in devices if d == requested]
    version = VERSION.match(probe["blender_version"])
    capabilities: dict[str, Any] = {
        "devices": devices,
        "blender_version": version[0] if version else None,
        "os": OS_NAMES.get(sys.platform),
    }
    gpu_names = [name for b in DEVICE_ORDER for name in found.get(b, [])]
    if gpus:
        best = max(gpus, key=lambda g: g["vram_mb"])
        capabilities |= {"gpu_model": best["name"][:100], "vram_mb": best["vram_mb"]}
    elif gpu_names:
        capabilities["gpu_model"] = gpu_names[0][:100]
    return WorkerProfileRequest(
        capabilities=Capabilities(**{k: v for k, v in capabilities.items() if v is not None}),
        hardware_specs={
            "gpus": gpus or [{"name": n} for n in gpu_names],
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "blender": probe["blender_version"],
        },
    )


def detect(
    runner: BlenderRunner, scratch: Path, requested_device: str = "AUTO"
) -> WorkerProfileRequest:
    """This machine's profile (runs Blender once, a few seconds)."""
    return profile(runner.probe(scratch), _query_nvidia(), requested_device)
