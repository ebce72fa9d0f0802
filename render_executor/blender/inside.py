"""The script Blender runs: `-- SPEC.json`, whose `mode` says what for: a job's render, a
verifier's crop renders, a description of the file's own settings, or a probe of this
Blender. Standard library, bpy and numpy (which Blender bundles).

Nothing in the file runs: the file is opened with script auto-execution off (no registered
text blocks, so no handlers or add-ons of its own), every handler list is emptied after the
load anyway, and every scripted driver whose expression is not one of Blender's "simple
expressions" (evaluated without Python) is muted. A render's settings come from the spec,
never from the file: engine, frame, resolution, samples, output format and device.

Nothing outside the job's folder (the spec's `folder`) is read: once the file is open, and
before anything is rendered, every path the scene refers to (Blender's own list
of them, `bpy.data.file_path_map`: images, libraries, movie clips, sounds, fonts, volumes,
caches, modifiers' files, nodes' files) and the external point caches and bakes (which that
list leaves out) must resolve inside it, and no node may compute a file path while it is
evaluated; otherwise the scene is refused with the paths named. Packed files are not paths.
Libraries are loaded while the file opens, so the runner refuses outside ones before Blender
starts (`blendfile.py`); volumes and caches are read while it opens too, which the kernel's
fence around this process denies (`fence.py`). The compositor's File Output nodes are
removed: a render writes the job's frame only.

It prints progress as Blender does and writes what happened to the spec's `result` path.
"""

from __future__ import annotations

import json
import os
import sys
import time

DEVICE_ORDER = ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL")
"""Cycles' GPU backends, best first; CPU when none has a device."""
ENGINES = ("CYCLES", "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT", "BLENDER_WORKBENCH")
EEVEE_NAMES = {"BLENDER_EEVEE_NEXT": "BLENDER_EEVEE", "BLENDER_EEVEE": "BLENDER_EEVEE_NEXT"}
"""EEVEE's identifier changed twice (4.2: EEVEE_NEXT, 5.0: EEVEE again); either works."""
FORMATS = ("PNG", "JPEG", "OPEN_EXR", "OPEN_EXR_MULTILAYER", "TIFF")
"""What a job may ask for: what the frame checks read and the verifier reproduces (WebP's
lossy coding predicts each block from its neighbours, so a window cannot be re-coded alone)."""
LINEAR_FORMATS = ("OPEN_EXR", "OPEN_EXR_MULTILAYER")
"""Formats that keep the scene's linear light (no view transform, no rounding)."""
COMPUTED_PATH = "NodeSocketStringFilePath"
"""A node's file path input (geometry nodes' Import nodes): checked unless it is linked."""


class Refused(Exception):
    """The scene is refused, not failed by Blender: the message is for the creator."""


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


def _open(bpy, spec: dict) -> dict[str, int]:
    """Open the file with nothing of it running and nothing outside the job's folder read
    (see the module's docstring)."""
    bpy.context.preferences.filepaths.use_scripts_auto_execute = False
    before = _handlers(bpy)
    bpy.ops.wm.open_mainfile(filepath=spec["blend"], load_ui=False, use_scripts=False)
    disarmed = _disarm(bpy, before)
    outside = _outside_paths(bpy, os.path.realpath(spec["folder"]))
    if outside:
        raise Refused(
            "the scene refers to files outside the job's folder, which a worker does not "
            f"read (pack them into the .blend or put them in its archive): {'; '.join(outside)}"
        )
    return {**disarmed, "file_outputs_removed": _remove_file_outputs(bpy)}


def _outside_paths(bpy, root: str) -> list[str]:
    """Each path the open scene refers to that does not resolve inside `root`, with what
    refers to it; and each node whose file path is computed (so cannot be checked)."""
    found = []
    for block, path in _paths(bpy):
        # a library's path is relative to the file that links it, others to their library's
        base = block.parent if isinstance(block, bpy.types.Library) else block.library
        resolved = os.path.realpath(bpy.path.abspath(path, library=base))
        if os.path.commonpath((root, resolved)) != root:
            found.append(f"{path} ({type(block).__name__} {block.name!r})")
    for tree in bpy.data.node_groups:
        for node in tree.nodes:
            if any(s.bl_idname == COMPUTED_PATH and s.is_linked for s in node.inputs):
                found.append(f"a computed file path (node {node.name!r} in {tree.name!r})")
    return found


def _paths(bpy):
    """(ID, path) for every file the scene reads: Blender's list, and the point caches on
    disk and geometry nodes' bakes, which it leaves out."""
    for block, paths in bpy.data.file_path_map(include_libraries=True).items():
        # a linked block lists its library's path too: that is the library's to check (its
        # own entry, relative to the main file; and a packed library is not read from it)
        library = block.library.filepath if block.library else None
        yield from ((block, path) for path in paths if path and path != library)
    for obj in bpy.data.objects:
        caches = [system.point_cache for system in obj.particle_systems]
        for modifier in obj.modifiers:
            caches.append(getattr(modifier, "point_cache", None))
            canvas = getattr(modifier, "canvas_settings", None)
            caches += [s.point_cache for s in canvas.canvas_surfaces] if canvas else []
            if modifier.type == "NODES":
                yield from ((obj, p) for p in [modifier.bake_directory] if p)
                yield from ((obj, b.directory) for b in modifier.bakes if b.use_custom_path)
        for cache in filter(None, caches):
            yield from ((obj, c.filepath) for c in cache.point_caches if c.use_external)


def _remove_file_outputs(bpy) -> int:
    """Remove the compositor's File Output nodes (they write where the file says)."""
    trees = [*bpy.data.node_groups, *(getattr(s, "node_tree", None) for s in bpy.data.scenes)]
    removed = 0
    for tree in filter(None, trees):
        for node in [n for n in tree.nodes if n.bl_idname == "CompositorNodeOutputFile"]:
            tree.nodes.remove(node)
            removed += 1
    return removed


def _apply(bpy, scene, spec: dict) -> str:
    """The job's settings on the open scene; the device it will render with."""
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
    render.use_file_extension = False
    file_format = spec["format"].upper()
    if file_format not in FORMATS:
        raise ValueError(f"unknown output format {file_format!r}: one of {FORMATS}")
    set_format(render.image_settings, file_format)
    if file_format not in LINEAR_FORMATS:  # 8-bit frames: the values the verifier models
        render.image_settings.color_depth = "8"
    if file_format == "JPEG":  # a verifier's JPEG crops then code the same values the same way
        render.dither_intensity = 0.0
    device = "CPU"
    if engine == "CYCLES":
        device, _ = choose_device(_gpu_devices(bpy), spec.get("device", "AUTO"))
        _use_device(bpy, scene, device)
        scene.cycles.samples = spec["samples"]
        scene.cycles.use_adaptive_sampling = False
        if spec.get("threads"):
            render.threads_mode, render.threads = "FIXED", spec["threads"]
        if spec.get("denoise") is not None:
            scene.cycles.use_denoising = spec["denoise"]
        if scene.cycles.use_denoising:  # what a verifier's CPU can redo from the passes
            scene.cycles.denoiser, scene.cycles.denoising_use_gpu = "OPENIMAGEDENOISE", False
    elif engine in EEVEE_NAMES:
        scene.eevee.taa_render_samples = spec["samples"]
        device = "GPU"
    scene.frame_set(spec["frame"])
    print(f"VERIFRAME device={device} blender={bpy.app.version_string}", flush=True)
    return device


def render(spec: dict) -> dict:
    import bpy

    disarmed = _open(bpy, spec)
    scene = bpy.context.scene
    device = _apply(bpy, scene, spec)
    scene.render.filepath = spec["output"]
    noisy = store_noisy(scene)
    bpy.app.handlers.render_stats.append(_print_stats)
    started = time.perf_counter()
    bpy.ops.render.render(write_still=True)
    if noisy:
        save_passes(bpy, scene, spec["passes"])
    return {
        "render_seconds": time.perf_counter() - started,
        "device": device,
        "blender_version": bpy.app.version_string,
        "autoexec_blocked": bool(bpy.app.autoexec_fail),
        "passes": spec["passes"] if noisy else None,
        **disarmed,
    }


def store_noisy(scene) -> bool:
    """Keep the render before the denoiser (its "Noisy Image" pass), when Cycles denoises
    a scene of one view layer: what a verifier checks the render's cost on, since the
    denoised frame hides how many samples it took."""
    layers = [layer for layer in scene.view_layers if layer.use]
    if scene.render.engine != "CYCLES" or not scene.cycles.use_denoising or len(layers) != 1:
        return False
    layers[0].cycles.denoising_store_passes = True
    return True


def set_format(settings, file_format: str) -> None:
    """An output format by Blender's name: Blender 5 takes the kind of file first (a
    multilayer OpenEXR is a "multi-layer image", every other format an "image")."""
    if hasattr(settings, "media_type"):
        multilayer = file_format == "OPEN_EXR_MULTILAYER"
        settings.media_type = "MULTI_LAYER_IMAGE" if multilayer else "IMAGE"
    settings.file_format = file_format


def save_passes(bpy, scene, path: str) -> None:
    """The last render's passes as a multilayer OpenEXR (half floats), the output's own
    settings left as they were."""
    settings = scene.render.image_settings
    kept = (settings.file_format, settings.color_depth, settings.exr_codec)
    set_format(settings, "OPEN_EXR_MULTILAYER")
    settings.color_depth, settings.exr_codec = "16", "ZIP"
    bpy.data.images["Render Result"].save_render(path)
    set_format(settings, kept[0])
    settings.color_depth, settings.exr_codec = kept[1:]


JPEG_BLOCK = 16
"""A JPEG's largest block (a 4:2:0 macroblock); 8 pixels around a window keep the decoder's
chroma smoothing at the border's edge out of it."""


def _border(crop: dict, margin: int, width: int, height: int, jpeg: bool) -> tuple:
    """The pixels (left, top, right, bottom) rendered for a window: the window and `margin`
    around it within the frame, for a JPEG job widened to whole blocks."""
    if jpeg:
        margin, block = max(margin, JPEG_BLOCK // 2), JPEG_BLOCK
    else:
        block = 1
    left = max(crop["x"] - margin, 0) // block * block
    top = max(crop["y"] - margin, 0) // block * block
    right = min(-(-(crop["x"] + crop["width"] + margin) // block) * block, width)
    bottom = min(-(-(crop["y"] + crop["height"] + margin) // block) * block, height)
    return left, top, right, bottom


def render_crops(spec: dict) -> dict:
    """The spec's windows, each at each of its seeds, with the job's settings, the scene
    kept between renders: border renders cropped to the window (and to a margin around it
    when the denoiser or compositor looks at neighbours, so that what they do at its edge
    is what they do inside a full frame). Each window's display values are written before
    any 8-bit rounding or dither (a 16-bit PNG, read back as floats), as raw float32 RGBA
    rows from the top: the comparison models the delivery's rounding itself. An OpenEXR
    job's are its linear values (32-bit OpenEXR). A JPEG job's are JPEGs at the job's
    quality, their borders on the frame's 16-pixel blocks and 8 pixels clear of the window:
    JPEG codes each block by itself, so the window's pixels are then what the same render's
    full-frame JPEG has there, and an honest delivery differs from them by noise alone.

    With a `guide`, windows of its own are placed first where a cheap preview of the whole
    frame disagrees most with the delivered frame (`guided_windows`), and rendered too."""
    import bpy

    disarmed = _open(bpy, spec)
    scene = bpy.context.scene
    device = _apply(bpy, scene, spec)
    redo = spec.get("redo")
    same_denoiser = redo and redo["blender_version"] == bpy.app.version_string
    denoiser = _take_denoiser(scene) if same_denoiser else None
    render = scene.render
    render.use_persistent_data = True
    linear = spec["format"].upper() in LINEAR_FORMATS
    jpeg = spec["format"].upper() == "JPEG"
    crop_format = "OPEN_EXR" if linear else "JPEG" if jpeg else "PNG"
    set_format(render.image_settings, crop_format)
    render.image_settings.color_mode = "RGB" if jpeg else "RGBA"
    render.image_settings.color_depth = "32" if linear else "8" if jpeg else "16"
    suffix = {"OPEN_EXR": ".exr", "JPEG": ".jpg", "PNG": ".png"}[crop_format]
    crops, guided = list(spec["crops"]), []
    if spec.get("guide"):
        guided = _guide(bpy, scene, spec["guide"], spec["crops"], suffix)
        crops += [
            {**window, "seed": seed, "output": f"{spec['guide']['output']}-{i}-{n}.rgba32f"}
            for i, window in enumerate(guided)
            for n, seed in enumerate(spec["guide"]["seeds"])
        ]
    render.use_border, render.use_crop_to_border = True, True
    width, height = spec["resolution"]
    margin = spec["margin"] if _filters_neighbours(scene) else 0
    if scene.render.engine == "CYCLES":
        scene.cycles.use_animated_seed = False
    noisy = bool(denoiser) or store_noisy(scene)
    passes = []
    started = time.perf_counter()
    for crop in crops:
        left, top, right, bottom = _border(crop, margin, width, height, jpeg)
        # fractions a quarter pixel inside each edge: Blender truncates them to pixels
        render.border_min_x, render.border_max_x = (left + 0.25) / width, (right + 0.25) / width
        render.border_min_y = (height - bottom + 0.25) / height
        render.border_max_y = (height - top + 0.25) / height
        if scene.render.engine == "CYCLES":
            scene.cycles.seed = crop["seed"]
        render.filepath = crop["output"] + suffix
        bpy.ops.render.render(write_still=True)
        values = _pixels(bpy, render.filepath)
        if values.shape[:2] != (bottom - top, right - left):
            raise RuntimeError(
                f"Blender rendered {values.shape[1]}×{values.shape[0]} pixels for a "
                f"{right - left}×{bottom - top} border"
            )
        x, y = crop["x"] - left, crop["y"] - top
        values[y : y + crop["height"], x : x + crop["width"]].tofile(crop["output"])
        if noisy:
            passes.append(
                {"path": crop["output"] + ".exr", "x": x, "y": y}
                | {"width": crop["width"], "height": crop["height"]}
            )
            save_passes(bpy, scene, passes[-1]["path"])
    redone = []
    if denoiser:
        windows = [{k: c[k] for k in ("x", "y", "width", "height")} for c in crops[::2]]
        redone = _redo_denoising(bpy, scene, denoiser, spec["redo"], windows, suffix)
    return {
        "render_seconds": time.perf_counter() - started,
        "device": device,
        "blender_version": bpy.app.version_string,
        "margin": margin,
        "noisy_layer": "Combined" if denoiser else "Noisy Image",
        "redone": redone,
        "dither": render.dither_intensity,
        "linear": linear,
        "rounded": jpeg,
        "guided": guided,
        "guided_images": [c["output"] for c in crops[len(spec["crops"]) :]],
        "passes": passes,
        **disarmed,
    }


def _take_denoiser(scene) -> dict | None:
    """When Cycles' denoiser is all that mixes neighbouring pixels (no compositor, one view
    layer; the delivered passes rendered by this Blender, whose OpenImageDenoise made the
    frame): its settings, with it turned off and its guides stored. The crops are then
    rendered without it and without a margin (their Combined pass is the noisy pass of a
    denoised render, bit for bit), and the denoising is redone from the delivered passes."""
    layers = [layer for layer in scene.view_layers if layer.use]
    cycles = scene.cycles
    if (
        not hasattr(scene, "compositing_node_group")  # Blender 5's compositor, which redoes it
        or scene.render.engine != "CYCLES"
        or not cycles.use_denoising
        or len(layers) != 1
        or (scene.render.use_compositing and _compositor(scene))
    ):
        return None
    settings = {
        "prefilter": cycles.denoising_prefilter,
        "quality": getattr(cycles, "denoising_quality", "HIGH"),
        "inputs": cycles.denoising_input_passes,
    }
    cycles.use_denoising = False
    layers[0].cycles.denoising_store_passes = True
    return settings


def _redo_denoising(
    bpy, scene, denoiser: dict, redo: dict, windows: list[dict], suffix: str
) -> list[str]:
    """Each window of the delivered passes (`redo`: their .npy files), with `redo["margin"]`
    pixels around it, denoised as Cycles denoises (the compositor's Denoise node: the same
    OpenImageDenoise, its settings) and written as the crops are, through the scene's
    colour management and format: what the delivered frame must have there. Raw float32
    RGBA rows of the window, one file per window."""
    import numpy as np

    helper, images = _denoise_scene(bpy, denoiser)
    planes = {name: np.load(redo[name], mmap_mode="r") for name in images}
    alpha = np.load(redo["alpha"], mmap_mode="r") if redo.get("alpha") else None
    height, width = planes["noisy"].shape[:2]
    outputs = []
    for i, window in enumerate(windows):
        # on the frame's 16-pixel grid (as a JPEG's blocks): OpenImageDenoise's network
        # pools by 16, so a region of another phase is denoised on another grid
        left, top, right, bottom = _border(window, redo["margin"], width, height, True)
        for name, node in images.items():
            rgba = np.ones((bottom - top, right - left, 4), dtype=np.float32)
            rgba[..., :3] = planes[name][top:bottom, left:right]
            if name == "noisy" and alpha is not None:  # a transparent film's coverage
                rgba[..., 3] = alpha[top:bottom, left:right]
            image = bpy.data.images.new(f"veriframe-{name}", right - left, bottom - top,
                                        alpha=True, float_buffer=True)  # fmt: skip
            image.colorspace_settings.name = "Non-Color"  # scene-linear values, as they are
            image.pixels.foreach_set(rgba[::-1].ravel())
            if node.image:
                bpy.data.images.remove(node.image)
            node.image = image
        helper.render.resolution_x, helper.render.resolution_y = right - left, bottom - top
        helper.render.filepath = f"{redo['output']}-{i}-linear.exr"
        bpy.ops.render.render(write_still=True, scene=helper.name)
        denoised = bpy.data.images.load(helper.render.filepath)
        path = f"{redo['output']}-{i}{suffix}"
        denoised.save_render(path, scene=scene)  # the job's colour management and format
        bpy.data.images.remove(denoised)
        x, y = window["x"] - left, window["y"] - top
        values = _pixels(bpy, path)[y : y + window["height"], x : x + window["width"]]
        values.tofile(f"{redo['output']}-{i}.rgba32f")
        outputs.append(f"{redo['output']}-{i}.rgba32f")
    return outputs


def _denoise_scene(bpy, denoiser: dict):
    """A scene that renders nothing and composites its Image nodes through a Denoise node
    set as `denoiser` (Cycles' settings); the scene and the Image nodes by input."""
    helper = bpy.data.scenes.new("veriframe-denoise")
    helper.render.engine = "BLENDER_WORKBENCH"
    helper.render.resolution_percentage = 100
    helper.render.use_compositing = True
    set_format(helper.render.image_settings, "OPEN_EXR")
    helper.render.image_settings.color_depth = "32"
    camera = bpy.data.objects.new("veriframe-denoise", bpy.data.cameras.new("veriframe-denoise"))
    helper.collection.objects.link(camera)
    helper.camera = camera
    tree = bpy.data.node_groups.new("veriframe-denoise", "CompositorNodeTree")
    helper.compositing_node_group = tree
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    denoise = tree.nodes.new("CompositorNodeDenoise")
    denoise.inputs["HDR"].default_value = True
    denoise.inputs["Prefilter"].default_value = denoiser["prefilter"].title()
    denoise.inputs["Quality"].default_value = denoiser["quality"].title()
    tree.links.new(denoise.outputs[0], tree.nodes.new("NodeGroupOutput").inputs[0])
    used = {"noisy": "Image"}
    if "ALBEDO" in denoiser["inputs"]:
        used["albedo"] = "Albedo"
    if "NORMAL" in denoiser["inputs"]:
        used["normal"] = "Normal"
    images = {}
    for name, socket in used.items():
        images[name] = tree.nodes.new("CompositorNodeImage")
        tree.links.new(images[name].outputs[0], denoise.inputs[socket])
    return helper, images


PREVIEW_PERCENTAGE = 25
PREVIEW_SAMPLES_DIVISOR = 16
"""The guide's preview: a quarter of the frame's width and height at a sixteenth of its
samples, 1/256 of the render's cost."""


def _guide(bpy, scene, guide: dict, drawn: list[dict], suffix: str) -> list[dict]:
    """Windows of `guide["side"]` placed where the preview (rendered at the guide's first
    seed, written as the crops are) and the delivered frame (its values as the crops' are
    read, a .npy) disagree most, clear of the drawn windows and each other."""
    import numpy as np

    render = scene.render
    render.resolution_percentage = PREVIEW_PERCENTAGE
    samples = scene.cycles.samples
    scene.cycles.samples = max(1, samples // PREVIEW_SAMPLES_DIVISOR)
    scene.cycles.seed = guide["seeds"][0]
    render.filepath = guide["output"] + "-preview" + suffix
    bpy.ops.render.render(write_still=True)
    render.resolution_percentage, scene.cycles.samples = 100, samples
    preview, delivered = _pixels(bpy, render.filepath)[..., :3], np.load(guide["frame"])
    taken = [(c["x"], c["y"], c["width"], c["height"]) for c in drawn]
    found = guided_windows(delivered, preview, guide["side"], guide["count"], taken)
    return [{"x": x, "y": y, "width": w, "height": h} for x, y, w, h in found]


def _pixels(bpy, path: str):
    """An image file's RGBA values as stored, not linearised (H × W × 4 float32, rows from
    the top)."""
    import numpy as np

    image = bpy.data.images.load(path)
    image.colorspace_settings.name = "Non-Color"
    width, height = image.size
    values = np.empty(width * height * 4, dtype=np.float32)
    image.pixels.foreach_get(values)
    bpy.data.images.remove(image)
    return values.reshape(height, width, 4)[::-1]


def guided_windows(delivered, preview, side: int, count: int, taken: list, step: int = 8) -> list:
    """Up to `count` windows (x, y, side, side), at multiples of `step`, where the delivered
    frame averaged down to the preview's size differs most from the preview: a look at the
    whole frame, for 1/256 of a render, at where other content, a shift or a replayed frame
    would show. Greedy, the largest summed squared difference first, none overlapping
    another or `taken`. Averaged over each preview pixel's block, the delivery's own noise
    (which the crops judge) weighs little in where they go."""
    import numpy as np

    height, width = delivered.shape[:2]
    rows = np.arange(height) * preview.shape[0] // height  # each pixel's preview row/column
    columns = np.arange(width) * preview.shape[1] // width
    starts_y = np.searchsorted(rows, np.arange(preview.shape[0]))
    starts_x = np.searchsorted(columns, np.arange(preview.shape[1]))
    sums = np.add.reduceat(np.add.reduceat(delivered, starts_y, 0), starts_x, 1)
    counts = np.outer(np.diff(np.append(starts_y, height)), np.diff(np.append(starts_x, width)))
    disagreement = ((sums / counts[..., None] - preview) ** 2).sum(axis=2)
    integral = np.pad(disagreement[rows][:, columns].cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    ys = np.arange(0, height - side + 1, step)[:, None]
    xs = np.arange(0, width - side + 1, step)[None, :]
    score = (
        integral[ys + side, xs + side] - integral[ys, xs + side]
        - integral[ys + side, xs] + integral[ys, xs]
    )  # fmt: skip
    free = np.ones(score.shape, dtype=bool)

    def clear(x: int, y: int, w: int, h: int) -> None:
        free[(ys < y + h) & (ys + side > y) & (xs < x + w) & (xs + side > x)] = False

    for window in taken:
        clear(*window)
    found = []
    while len(found) < count and free.any():
        best = np.unravel_index(np.argmax(np.where(free, score, -np.inf)), score.shape)
        found.append((int(xs[0, best[1]]), int(ys[best[0], 0]), side, side))
        clear(*found[-1])
    return found


def _filters_neighbours(scene) -> bool:
    """Whether a pixel of the output depends on its neighbours' render (denoiser,
    compositor), so that a window needs a margin."""
    denoised = scene.render.engine == "CYCLES" and scene.cycles.use_denoising
    return bool(denoised or (scene.render.use_compositing and _compositor(scene)))


def _compositor(scene) -> bool:
    tree = getattr(scene, "compositing_node_group", None) or getattr(scene, "node_tree", None)
    return tree is not None and len(tree.nodes) > 0


def describe(spec: dict) -> dict:
    """The file's own render settings (opened with nothing of it running): what a job of
    it renders unless told otherwise."""
    import bpy

    _open(bpy, spec)
    scene = bpy.context.scene
    render = scene.render
    engine = render.engine
    samples = scene.cycles.samples if engine == "CYCLES" else None
    if engine in EEVEE_NAMES:
        samples = scene.eevee.taa_render_samples
    scale = render.resolution_percentage / 100
    return {
        "frame": scene.frame_current,
        "frame_start": scene.frame_start,
        "frame_end": scene.frame_end,
        "resolution": [round(render.resolution_x * scale), round(render.resolution_y * scale)],
        "samples": samples,
        "engine": engine,
        "format": render.image_settings.file_format,
        "denoising": bool(engine == "CYCLES" and scene.cycles.use_denoising),
        "has_camera": scene.camera is not None,
        "blender_version": bpy.app.version_string,
    }


def probe(_spec: dict) -> dict:
    """What this Blender can render with: its version and Cycles' GPU devices by backend."""
    import bpy

    return {"blender_version": bpy.app.version_string, "gpu_devices": _gpu_devices(bpy)}


MODES = {"render": render, "crops": render_crops, "describe": describe, "probe": probe}


def main(argv: list[str]) -> int:
    spec_path = argv[argv.index("--") + 1] if "--" in argv else argv[1]
    with open(spec_path) as handle:
        spec = json.load(handle)
    try:
        result = {"ok": True, **MODES[spec.get("mode", "render")](spec)}
    except Refused as err:
        result = {"ok": False, "refused": str(err)}
    except Exception as err:  # reported to the runner, which fails the render with it
        result = {"ok": False, "error": f"{type(err).__name__}: {err}"}
    with open(spec["result"], "w") as handle:
        json.dump(result, handle)
    return 0 if result["ok"] else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv))
