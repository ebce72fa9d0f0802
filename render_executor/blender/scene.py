"""A small scene made from nothing (a cube, a light, a camera), for tests, benchmarks and
the demo job: run by Blender's Python as a script, `-- OUT.blend [--samples N]`.

Kept to the standard library and bpy, like `inside.py`, so any Blender can run it.
"""

from __future__ import annotations

import sys


def build(out: str, samples: int = 16) -> None:
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    mesh = bpy.data.meshes.new("cube")
    half = 1.0
    verts = [(x, y, z) for x in (-half, half) for y in (-half, half) for z in (-half, half)]
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    mesh.from_pydata(verts, [], faces)
    cube = bpy.data.objects.new("cube", mesh)
    material = bpy.data.materials.new("red")
    material.diffuse_color = (0.8, 0.1, 0.1, 1)
    mesh.materials.append(material)
    scene.collection.objects.link(cube)
    sun = bpy.data.objects.new("sun", bpy.data.lights.new("sun", "SUN"))
    sun.data.energy = 4
    sun.rotation_euler = (0.7, 0.2, 0.4)
    scene.collection.objects.link(sun)
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    camera.location = (5.0, -5.0, 4.0)
    camera.rotation_euler = (1.0, 0.0, 0.785)
    scene.collection.objects.link(camera)
    scene.camera = camera
    world = bpy.data.worlds.new("world")
    world.color = (0.3, 0.3, 0.35)
    scene.world = world
    scene.render.engine = "CYCLES"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = 320, 240
    bpy.ops.wm.save_as_mainfile(filepath=out)


if __name__ == "__main__":
    args = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    build(args[0], int(args[2]) if len(args) > 2 and args[1] == "--samples" else 16)
