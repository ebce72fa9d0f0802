"""The script Blender runs for one render: `-- SPEC.json`. Standard library and bpy only.

Nothing in the file runs: the file is opened with script auto-execution off (no registered
text blocks, so no handlers or add-ons of its own), every handler list is emptied after the
load anyway, and every scripted driver whose expression is not one of Blender's "simple
expressions" (evaluated without Python) is muted. The render's settings come from the spec,
never from the file: engine, frame, resolution, samples, output format and device.

It prints progress as Blender does and writes what happened to the spec's `result` path.
"""

from __future__ import annotations

import json
import sys
import time

DEVICE_ORDER = ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL")
"""Cycles' GPU backends, best first; CPU when none has a device."""
ENGINES = ("CYCLES", "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT", "BLENDER_WORKBENCH")
EEVEE_NAMES = {"BLENDER_EEVEE_NEXT": "BLENDER_EEVEE", "BLENDER_EEVEE": "BLENDER_EEVEE_NEXT"}
"""EEVEE's identifier changed twice (4.2: EEVEE_NEXT, 5.0: EEVEE again); either works."""
FORMATS = ("PNG", "JPEG", "OPEN_EXR", "TIFF", "WEBP")


def choose_device(available: dict[str, list[str]], requested: str = "AUTO") -> tuple[str, list]:
    """The backend to render with and its devices, from the devices Cycles found per backend.

    `requested` AUTO takes the best backend that has a device (OptiX > CUDA > HIP > oneAPI >
    Metal), else the CPU; a named backend is used only if it has a device; CPU is always
    possible. A backend asked for but missing is an error, not a silent fall back to the CPU.
    """
    requested = requested.upper()
    if requested == "CPU":
        return "CPU", []
    if requested == "AUTO":
        for backend in DEVICE_ORDER:
            if available.get(backend):
                return backend, available[backend]
        return "CPU", []
    if requested not in DEVICE_ORDER:
        raise ValueError(f"unknown device {requested!r}: AUTO, CPU or one of {DEVICE_ORDER}")
    if not available.get(requested):
        found = ", ".join(b for b in DEVICE_ORDER if available.get(b)) or "none"
        raise ValueError(f"no {requested} device on this machine (GPU backends found: {found})")
    return requested, available[requested]


def _gpu_devices(bpy) -> dict[str, list[str]]:
    """The GPU devices Cycles finds, by backend (CPU entries left out)."""
    prefs = bpy.context.preferences.addons["cycles"].preferences
    found: dict[str, list[str]] = {}
    for backend in DEVICE_ORDER:
        try:
            devices = prefs.get_devices_for_type(backend)
        except (TypeError, ValueError):  # a backend this build does not know
            continue
        names = [d.name for d in devices if d.type == backend]
        if names:
            found[backend] = names
    return found


def _use_device(bpy, scene, backend: str) -> None:
    prefs = bpy.context.preferences.addons["cycles"].preferences
    if backend == "CPU":
        scene.cycles.device = "CPU"
        return
    prefs.compute_device_type = backend
    for device in prefs.get_devices_for_type(backend):
        device.use = device.type == backend
    scene.cycles.device = "GPU"


def _handlers(bpy) -> dict[str, list]:
    lists = {name: getattr(bpy.app.handlers, name) for name in dir(bpy.app.handlers)}
    return {name: list(found) for name, found in lists.items() if isinstance(found, list)}


def _disarm(bpy, before: dict[str, list]) -> dict[str, int]:
    """Whatever code the file could still run: handlers that were not Blender's own before
    the file was opened removed, Python drivers muted."""
    cleared = 0
    for name, handlers in _handlers(bpy).items():
        for handler in handlers:
            if handler not in before.get(name, ()):
                getattr(bpy.app.handlers, name).remove(handler)
                cleared += 1
    muted = 0
    for collection in (
        bpy.data.objects,
        bpy.data.meshes,
        bpy.data.materials,
        bpy.data.scenes,
        bpy.data.cameras,
        bpy.data.lights,
        bpy.data.worlds,
        bpy.data.node_groups,
        bpy.data.shape_keys,
        bpy.data.armatures,
        bpy.data.curves,
    ):
        for block in collection:
            animation = getattr(block, "animation_data", None)
            for fcurve in animation.drivers if animation else ():
                driver = fcurve.driver
                if driver.type == "SCRIPTED" and not driver.is_simple_expression:
                    fcurve.mute = True
                    muted += 1
    return {"handlers_cleared": cleared, "python_drivers_muted": muted}


def _print_stats(stats: str) -> None:
    """Blender's status line (`... | Sample 12/64`), which the runner reads progress from."""
    print(f"VERIFRAME stats {stats}", flush=True)


def render(spec: dict) -> dict:
    import bpy

    bpy.context.preferences.filepaths.use_scripts_auto_execute = False
    before = _handlers(bpy)
    bpy.ops.wm.open_mainfile(filepath=spec["blend"], load_ui=False, use_scripts=False)
    disarmed = _disarm(bpy, before)
    scene = bpy.context.scene
    if scene.camera is None:
        raise RuntimeError("the scene has no camera")
    render = scene.render
    engine = spec["engine"].upper()
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: one of {ENGINES}")
    try:
        render.engine = engine
    except TypeError:  # the other name of EEVEE in this Blender
        render.engine = EEVEE_NAMES.get(engine, engine)
    render.resolution_x, render.resolution_y = spec["resolution"]
    render.resolution_percentage = 100
    render.use_border = False
    render.filepath = spec["output"]
    render.use_file_extension = False
    file_format = spec["format"].upper()
    if file_format not in FORMATS:
        raise ValueError(f"unknown output format {file_format!r}: one of {FORMATS}")
    render.image_settings.file_format = file_format
    device = "CPU"
    if engine == "CYCLES":
        device, _ = choose_device(_gpu_devices(bpy), spec.get("device", "AUTO"))
        _use_device(bpy, scene, device)
        scene.cycles.samples = spec["samples"]
        scene.cycles.use_adaptive_sampling = False
        if spec.get("threads"):
            render.threads_mode, render.threads = "FIXED", spec["threads"]
    elif engine in EEVEE_NAMES:
        scene.eevee.taa_render_samples = spec["samples"]
        device = "GPU"
    scene.frame_set(spec["frame"])
    print(f"VERIFRAME device={device} blender={bpy.app.version_string}", flush=True)
    bpy.app.handlers.render_stats.append(_print_stats)
    started = time.perf_counter()
    bpy.ops.render.render(write_still=True)
    return {
        "render_seconds": time.perf_counter() - started,
        "device": device,
        "blender_version": bpy.app.version_string,
        "autoexec_blocked": bool(bpy.app.autoexec_fail),
        **disarmed,
    }


def probe() -> dict:
    """What this Blender can render with: its version and Cycles' GPU devices by backend."""
    import bpy

    return {"blender_version": bpy.app.version_string, "gpu_devices": _gpu_devices(bpy)}


def main(argv: list[str]) -> int:
    spec_path = argv[argv.index("--") + 1] if "--" in argv else argv[1]
    with open(spec_path) as handle:
        spec = json.load(handle)
    try:
        result = {"ok": True, **(probe() if spec.get("probe") else render(spec))}
    except Exception as err:  # reported to the runner, which fails the render with it
        result = {"ok": False, "error": f"{type(err).__name__}: {err}"}
    with open(spec["result"], "w") as handle:
        json.dump(result, handle)
    return 0 if result["ok"] else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))
