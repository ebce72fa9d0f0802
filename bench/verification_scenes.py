"""The labelled set's scenes and renders, run by Blender's Python: `-- SPEC.json`.

The spec names one scene (`scene`), the .blend to build it into (`blend`, built from nothing
when missing) and the renders to make (`renders`: `out`, `seed`, and optionally `samples`
or `samples_factor` (of the scene's own), `threads`, `tile`, `denoise`, `frame`,
`camera_turn_deg`, `resolution_percentage`, `display_values`, `noisy`). Renders
whose outputs exist are skipped, so an interrupted build resumes. A render with `noisy` that
denoises also writes its passes there (a multilayer OpenEXR, `inside.save_passes`): the
render before the denoiser, which a worker delivers beside a denoised frame. One process
renders all of a scene's frames with persistent data, so Blender's start and the scene's
sync are paid once.
A render with `display_values` is a verifier's reference: its display values before the 8-bit
rounding and dither (a 16-bit PNG read back as floats), saved as a float32 H x W x 4 `.npy`,
as the verifier's crop renders are, and as the 8-bit PNG a delivery would be (beside it, same
name), which shows what Blender's dither and rounding do to each value. What the bench needs
to know of the scene (denoiser on, dither) is written beside the .blend as JSON.

Each scene stresses the noise a verifier must tell from a forgery: glass and caustics, a lit
volume, depth of field, motion blur, a high-frequency texture, and an interior rendered with
the denoiser on. Every scene is animated (frames 1-30) so "another frame" exists, renders at
320x180 on the CPU without adaptive sampling (as the agent does) and keeps Blender's dither.
Standard library, bpy, numpy (bpy's own dependency) and the verifier's own Blender script.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from render_executor.blender.inside import save_passes, store_noisy

WIDTH, HEIGHT = 320, 180
SCENE_FRAME = 10
"""The frame every honest render shows; forgeries of "another frame" move from it."""


def _material(bpy, name: str, shader: str, **inputs: object):
    """A node material with one shader (`ShaderNodeBsdfGlass`, ...) into the output."""
    material = bpy.data.materials.new(name)
    material.use_nodes = True
    nodes = material.node_tree.nodes
    nodes.clear()
    node = nodes.new(shader)
    for key, value in inputs.items():
        node.inputs[key].default_value = value
    output = nodes.new("ShaderNodeOutputMaterial")
    socket = "Volume" if "Volume" in shader else "Surface"
    material.node_tree.links.new(node.outputs[0], output.inputs[socket])
    return material


def _mesh_object(bpy, scene, kind: str, name: str, location, size: float = 1.0, material=None):
    """A primitive (`cube`, `sphere`, `plane`) linked into the scene."""
    ops = {
        "cube": lambda: bpy.ops.mesh.primitive_cube_add(size=size, location=location),
        "sphere": lambda: bpy.ops.mesh.primitive_uv_sphere_add(
            radius=size / 2, location=location, segments=48, ring_count=24
        ),
        "plane": lambda: bpy.ops.mesh.primitive_plane_add(size=size, location=location),
    }
    ops[kind]()
    obj = bpy.context.active_object
    obj.name = name
    if kind == "sphere":
        bpy.ops.object.shade_smooth()
    if material is not None:
        obj.data.materials.append(material)
    return obj


def _light(bpy, scene, kind: str, location, energy: float, rotation=(0.0, 0.0, 0.0), size=0.1):
    light = bpy.data.objects.new(kind.lower(), bpy.data.lights.new(kind.lower(), kind))
    light.data.energy = energy
    if hasattr(light.data, "shadow_soft_size"):
        light.data.shadow_soft_size = size
    light.location, light.rotation_euler = location, rotation
    scene.collection.objects.link(light)
    return light


def _camera(bpy, scene, location, target):
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    camera.location = location
    scene.collection.objects.link(camera)
    direction = [t - c for t, c in zip(target, location, strict=True)]
    flat = math.hypot(direction[0], direction[1])
    camera.rotation_euler = (
        math.atan2(flat, -direction[2]),
        0.0,
        math.atan2(direction[1], direction[0]) - math.pi / 2,
    )
    scene.camera = camera
    return camera


def _world(bpy, scene, strength: float, colour=(0.6, 0.65, 0.7)) -> None:
    world = bpy.data.worlds.new("world")
    world.use_nodes = True
    background = world.node_tree.nodes["Background"]
    background.inputs["Color"].default_value = (*colour, 1.0)
    background.inputs["Strength"].default_value = strength
    scene.world = world


def _animate(obj, path: str, start, end) -> None:
    """Keyframes at frames 1 and 30 (Blender's default easing between)."""
    for frame, value in ((1, start), (30, end)):
        setattr(obj, path, value)
        obj.keyframe_insert(data_path=path, frame=frame)


def _floor(bpy, scene, size: float = 20.0):
    grey = _material(bpy, "floor", "ShaderNodeBsdfDiffuse", Color=(0.7, 0.7, 0.7, 1.0))
    return _mesh_object(bpy, scene, "plane", "floor", (0, 0, 0), size, grey)


def glass(bpy, scene) -> None:
    """A glass sphere over a floor under a small bright light: caustics and refraction."""
    _floor(bpy, scene)
    clear = _material(bpy, "glass", "ShaderNodeBsdfGlass", IOR=1.45, Roughness=0.0)
    ball = _mesh_object(bpy, scene, "sphere", "ball", (0, 0, 1.2), 2.0, clear)
    _animate(ball, "location", (-0.6, 0.0, 1.2), (0.6, 0.0, 1.2))
    _light(bpy, scene, "POINT", (1.5, -1.0, 5.0), 2000.0, size=0.05)
    _world(bpy, scene, 0.05)
    _camera(bpy, scene, (0.0, -6.0, 3.5), (0.0, 0.0, 0.8))
    scene.cycles.samples = 32


def volume(bpy, scene) -> None:
    """A spot light through a cube of scattering fog onto a floor."""
    _floor(bpy, scene)
    fog = _material(bpy, "fog", "ShaderNodeVolumePrincipled", Density=0.4)
    _mesh_object(bpy, scene, "cube", "fog", (0, 0, 1.5), 3.0, fog)
    _mesh_object(
        bpy, scene, "sphere", "ball", (0.3, 0.2, 0.6), 1.0,
        _material(bpy, "red", "ShaderNodeBsdfDiffuse", Color=(0.8, 0.1, 0.1, 1.0)),
    )  # fmt: skip
    spot = _light(bpy, scene, "SPOT", (-2.0, -1.0, 5.0), 3000.0, (0.4, -0.3, 0.0), 0.1)
    _animate(spot, "rotation_euler", (0.5, -0.4, 0.0), (0.3, -0.2, 0.0))
    _world(bpy, scene, 0.02)
    _camera(bpy, scene, (0.0, -7.0, 2.5), (0.0, 0.0, 1.2))
    scene.cycles.samples = 32


def depth_of_field(bpy, scene) -> None:
    """A row of spheres receding from a wide-open lens focused on the middle one."""
    _floor(bpy, scene)
    for i in range(6):
        colour = (0.2 + 0.13 * i, 0.8 - 0.1 * i, 0.3 + 0.1 * (i % 2), 1.0)
        material = _material(bpy, f"m{i}", "ShaderNodeBsdfPrincipled", **{"Base Color": colour})
        _mesh_object(bpy, scene, "sphere", f"s{i}", (i * 0.8 - 2.0, i * 2.0 - 3.0, 0.5), 1.0)
        bpy.context.active_object.data.materials.append(material)
    mover = bpy.data.objects["s3"]
    _animate(mover, "location", (0.2, 3.0, 0.5), (0.6, 3.0, 0.5))
    _light(bpy, scene, "SUN", (0, 0, 5), 3.0, (0.6, 0.3, 0.5))
    _world(bpy, scene, 0.4)
    camera = _camera(bpy, scene, (-1.5, -9.0, 1.5), (0.4, 1.0, 0.5))
    camera.data.dof.use_dof = True
    camera.data.dof.focus_distance = 10.0
    camera.data.dof.aperture_fstop = 0.3
    scene.cycles.samples = 32


def motion_blur(bpy, scene) -> None:
    """A cube spinning and flying across the frame with motion blur on."""
    _floor(bpy, scene)
    paint = _material(
        bpy, "paint", "ShaderNodeBsdfPrincipled", **{"Base Color": (0.1, 0.3, 0.9, 1.0)}
    )
    cube = _mesh_object(bpy, scene, "cube", "cube", (-3.0, 0.0, 1.0), 1.2, paint)
    _animate(cube, "location", (-3.0, 0.0, 1.0), (3.0, 0.0, 1.0))
    _animate(cube, "rotation_euler", (0.0, 0.0, 0.0), (0.0, 0.0, 12.0))
    _mesh_object(
        bpy, scene, "sphere", "still", (1.0, 2.0, 0.7), 1.4,
        _material(bpy, "yellow", "ShaderNodeBsdfDiffuse", Color=(0.9, 0.8, 0.1, 1.0)),
    )  # fmt: skip
    _light(bpy, scene, "AREA", (0.0, -2.0, 5.0), 800.0, (0.4, 0.0, 0.0), 2.0)
    _world(bpy, scene, 0.3)
    _camera(bpy, scene, (0.0, -8.0, 3.0), (0.0, 0.0, 1.0))
    scene.render.use_motion_blur = True
    scene.render.motion_blur_shutter = 0.8
    scene.cycles.samples = 32


def texture(bpy, scene) -> None:
    """A floor with a fine checker times noise seen at a grazing angle: aliasing noise."""
    material = bpy.data.materials.new("checker")
    material.use_nodes = True
    tree = material.node_tree
    checker = tree.nodes.new("ShaderNodeTexChecker")
    checker.inputs["Scale"].default_value = 120.0
    checker.inputs["Color1"].default_value = (0.95, 0.95, 0.95, 1.0)
    checker.inputs["Color2"].default_value = (0.02, 0.02, 0.02, 1.0)
    noise = tree.nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = 60.0
    mix = tree.nodes.new("ShaderNodeMix")
    mix.data_type, mix.blend_type = "RGBA", "MULTIPLY"
    mix.inputs["Factor"].default_value = 0.6
    tree.links.new(checker.outputs["Color"], mix.inputs["A"])
    tree.links.new(noise.outputs["Color"], mix.inputs["B"])
    bsdf = tree.nodes["Principled BSDF"]
    tree.links.new(mix.outputs["Result"], bsdf.inputs["Base Color"])
    plane = _mesh_object(bpy, scene, "plane", "floor", (0, 0, 0), 20.0, material)
    _animate(plane, "rotation_euler", (0.0, 0.0, 0.0), (0.0, 0.0, 0.15))
    _light(bpy, scene, "SUN", (0, 0, 5), 4.0, (0.5, 0.2, 0.3))
    _world(bpy, scene, 0.3)
    _camera(bpy, scene, (0.0, -6.0, 1.2), (0.0, 2.0, 0.0))
    scene.cycles.samples = 16


def interior_denoised(bpy, scene) -> None:
    """A closed room lit through indirect bounces, rendered with OpenImageDenoise on."""
    wall = _material(bpy, "wall", "ShaderNodeBsdfDiffuse", Color=(0.8, 0.75, 0.7, 1.0))
    room = _mesh_object(bpy, scene, "cube", "room", (0, 0, 2.0), 8.0, wall)
    for polygon in room.data.polygons:
        polygon.flip()
    room.data.update()
    _mesh_object(
        bpy, scene, "cube", "box", (1.0, 1.0, 0.5), 1.0,
        _material(bpy, "green", "ShaderNodeBsdfDiffuse", Color=(0.1, 0.7, 0.2, 1.0)),
    )  # fmt: skip
    ball = _mesh_object(
        bpy, scene, "sphere", "ball", (-1.0, 0.5, 0.6), 1.2,
        _material(bpy, "metal", "ShaderNodeBsdfPrincipled", Metallic=1.0, Roughness=0.2),
    )  # fmt: skip
    _animate(ball, "location", (-1.5, 0.5, 0.6), (-0.5, 0.5, 0.6))
    _light(bpy, scene, "SPOT", (2.5, -2.5, 5.5), 3000.0, (0.0, 0.0, 0.0), 0.2)
    _camera(bpy, scene, (-2.5, -3.5, 2.5), (0.5, 1.0, 0.8))
    scene.cycles.samples = 16
    scene.cycles.use_denoising = True
    scene.cycles.denoiser = "OPENIMAGEDENOISE"


def plain_cube(bpy, scene) -> None:
    """The demo job's scene (`render_executor/blender/scene.py`), turning: a cube with a
    material of no nodes under a sun against the world's flat colour, 16 samples; mostly
    background without noise, the cube's faces near the 8-bit rounding's own noise."""
    mesh = bpy.data.meshes.new("cube")
    corners = [(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh.from_pydata(corners, [], faces)
    material = bpy.data.materials.new("red")
    material.diffuse_color = (0.8, 0.1, 0.1, 1)
    mesh.materials.append(material)
    cube = bpy.data.objects.new("cube", mesh)
    scene.collection.objects.link(cube)
    _animate(cube, "rotation_euler", (0.0, 0.0, 0.0), (0.0, 0.0, 0.6))
    _light(bpy, scene, "SUN", (0, 0, 0), 4.0, (0.7, 0.2, 0.4))
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    camera.location, camera.rotation_euler = (5.0, -5.0, 4.0), (1.0, 0.0, 0.785)
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.world = bpy.data.worlds.new("world")
    scene.world.color = (0.3, 0.3, 0.35)
    scene.cycles.samples = 16


SCENES = {
    f.__name__: f
    for f in (glass, volume, depth_of_field, motion_blur, texture, interior_denoised, plain_cube)
}


def build(bpy, name: str, blend: str) -> None:
    """Make scene `name` from nothing with the settings every render starts from; save it."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = WIDTH, HEIGHT
    scene.render.resolution_percentage = 100
    scene.frame_start, scene.frame_end = 1, 30
    scene.frame_set(SCENE_FRAME)
    SCENES[name](bpy, scene)
    scene.render.image_settings.file_format = "PNG"
    os.makedirs(os.path.dirname(blend) or ".", exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=blend)


def render(bpy, job: dict, base: dict) -> float:
    """One render with the job's settings on top of the scene's own; its seconds."""
    scene = bpy.context.scene
    cycles = scene.cycles
    cycles.seed = job["seed"]
    cycles.samples = job.get("samples") or max(
        1, round(base["samples"] * job.get("samples_factor", 1))
    )
    cycles.use_denoising = job.get("denoise", base["denoise"])
    noisy = bool(job.get("noisy")) and store_noisy(scene)
    cycles.tile_size = job.get("tile", 2048)
    threads = job.get("threads")
    scene.render.threads_mode = "FIXED" if threads else "AUTO"
    if threads:
        scene.render.threads = threads
    scene.render.resolution_percentage = job.get("resolution_percentage", 100)
    camera = scene.camera
    x, y, z = base["camera_rotation"]
    camera.rotation_euler = (x, y, z + math.radians(job.get("camera_turn_deg", 0.0)))
    scene.frame_set(job.get("frame", SCENE_FRAME))
    settings = scene.render.image_settings
    settings.color_depth = "16" if job.get("display_values") else "8"
    scene.render.filepath = job["out"] + ".png" if job.get("display_values") else job["out"]
    started = time.perf_counter()
    bpy.ops.render.render(write_still=True)
    seconds = time.perf_counter() - started
    if noisy:
        save_passes(bpy, scene, job["noisy"])
    if job.get("display_values"):
        np.save(job["out"], _display_values(bpy, scene.render.filepath))
        os.remove(scene.render.filepath)
        settings.color_depth = "8"  # the same render as a delivery is: dithered to 8 bits
        bpy.data.images["Render Result"].save_render(os.path.splitext(job["out"])[0] + ".png")
    return seconds


def _display_values(bpy, path: str) -> np.ndarray:
    """A written image's RGBA values as floats, H x W x 4, rows from the top."""
    image = bpy.data.images.load(path)
    image.colorspace_settings.name = "Non-Color"  # the file's values, not linearised
    width, height = image.size
    values = np.empty(width * height * 4, dtype=np.float32)
    image.pixels.foreach_get(values)
    bpy.data.images.remove(image)
    return values.reshape(height, width, 4)[::-1]


def main(spec_path: str) -> None:
    import bpy

    with open(spec_path) as f:
        spec = json.load(f)
    if not os.path.exists(spec["blend"]):
        build(bpy, spec["scene"], spec["blend"])
    bpy.ops.wm.open_mainfile(filepath=spec["blend"], load_ui=False, use_scripts=False)
    scene = bpy.context.scene
    scene.render.use_persistent_data = True
    base = {
        "denoise": scene.cycles.use_denoising,
        "samples": scene.cycles.samples,
        "camera_rotation": tuple(scene.camera.rotation_euler),
    }
    with open(os.path.splitext(spec["blend"])[0] + ".json", "w") as f:
        facts = {"denoise": base["denoise"], "dither": scene.render.dither_intensity}
        json.dump(facts | {"samples": base["samples"]}, f)
    done = []
    for job in spec["renders"]:
        if all(os.path.exists(job[k]) for k in ("out", "noisy") if job.get(k)):
            continue
        os.makedirs(os.path.dirname(job["out"]), exist_ok=True)
        seconds = render(bpy, job, base)
        done.append({"out": job["out"], "seconds": round(seconds, 3)})
        print(f"VERIFRAME-BENCH rendered {job['out']} in {seconds:.2f} s", flush=True)
    with open(spec["result"], "w") as f:
        json.dump({"rendered": done}, f)


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1])
