"""Run by Blender: `-- DIR`. Writes scenes that read files from outside their job's folder
`DIR/job`, and one that reads only inside it, each a plane filling an orthographic camera's
view and lit by its own image texture (so a frame's colour is the texture's):

- `outside/secret.png` (magenta), `outside/lib.blend` (a magenta object), files of the
  worker's that no scene may read; `job/tex/inside.png` (green), the job's own texture;
- `job/clean.blend`: the job's texture, as `//tex/inside.png`;
- `job/image.blend`: the secret image by its absolute path;
- `job/relative.blend`: the secret image as `//../outside/secret.png`;
- `job/library.blend`: the clean scene plus the library's object, linked;
- `job/packed.blend`: `job/library.blend` with the library packed into it (its image is
  not: the library refers to it by its absolute path);
- `job/nested.blend`: the clean scene plus `job/library.blend`'s own plane, linked (the
  outside library is linked through the job's library, not by this file);
- `job/volume.blend`: the clean scene plus an OpenVDB volume at `outside/smoke.vdb`;
- `job/udim.blend`: the clean scene plus UDIM tiles in `outside/` (`tiles.<UDIM>.png`);
- `job/cache.blend`: the clean scene plus particles whose point cache is on disk, in
  `outside/cache/`;
- `job/import.blend`: the clean scene plus geometry nodes that import `outside/mesh.obj`;
- `job/computed.blend`: the same, the path computed by a String node;
- `job/output.blend`: the clean scene whose compositor has a File Output node writing to
  `outside/written/` (a trusting render writes `outside/written/file_name.exr`).
"""

import sys
from pathlib import Path

import bpy

MAGENTA, GREEN = (1.0, 0.0, 1.0, 1.0), (0.0, 1.0, 0.0, 1.0)


def png(path: Path, colour: tuple) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = bpy.data.images.new(path.stem, 4, 4)
    image.pixels = colour * 16
    image.filepath_raw, image.file_format = str(path), "PNG"
    image.save()
    bpy.data.images.remove(image)


def emitting(name: str, texture: str) -> bpy.types.Material:
    """A material that emits its image texture's colour."""
    material = bpy.data.materials.new(name)
    if material.node_tree is None:  # before Blender 5, materials had no nodes by default
        material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    nodes.clear()
    image = nodes.new("ShaderNodeTexImage")
    image.image = bpy.data.images.load(texture)
    emission, output = nodes.new("ShaderNodeEmission"), nodes.new("ShaderNodeOutputMaterial")
    links.new(image.outputs["Color"], emission.inputs["Color"])
    links.new(emission.outputs["Emission"], output.inputs["Surface"])
    return material


def plane(name: str, material: bpy.types.Material) -> bpy.types.Object:
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(-1, -1, 0), (1, -1, 0), (1, 1, 0), (-1, 1, 0)], [], [(0, 1, 2, 3)])
    mesh.uv_layers.new()
    mesh.materials.append(material)
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def scene(texture: str) -> None:
    """An empty file: a camera looking down at a plane emitting `texture`, nothing else."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    camera.data.type, camera.data.ortho_scale = "ORTHO", 2.0
    camera.location = (0.0, 0.0, 1.0)
    scene.collection.objects.link(camera)
    scene.camera = camera
    plane("plane", emitting("texture", texture))
    scene.view_settings.view_transform = "Standard"
    scene.render.engine = "CYCLES"


def importing(path: str, computed: bool) -> None:
    """Geometry nodes on the plane that import an OBJ at `path`, given as the node's own
    value or `computed` by a String node."""
    tree = bpy.data.node_groups.new("import", "GeometryNodeTree")
    tree.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    reader, output = tree.nodes.new("GeometryNodeImportOBJ"), tree.nodes.new("NodeGroupOutput")
    tree.links.new(reader.outputs[0], output.inputs[0])
    if computed:
        string = tree.nodes.new("FunctionNodeInputString")
        string.string = path
        tree.links.new(string.outputs[0], reader.inputs["Path"])
    else:
        reader.inputs["Path"].default_value = path
    bpy.data.objects["plane"].modifiers.new("import", "NODES").node_group = tree


def file_output(directory: Path) -> None:
    """The compositor passes the render through, and writes it to `directory` too."""
    tree = bpy.data.node_groups.new("compositor", "CompositorNodeTree")
    bpy.context.scene.compositing_node_group = tree
    layers, output = tree.nodes.new("CompositorNodeRLayers"), tree.nodes.new("NodeGroupOutput")
    tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    tree.links.new(layers.outputs["Image"], output.inputs[0])
    writer = tree.nodes.new("CompositorNodeOutputFile")
    writer.directory = f"{directory}/"
    tree.links.new(layers.outputs["Image"], writer.inputs[0])


def save(path: Path, absolute: bool = False) -> None:
    """Save as `path`, its paths made relative to it (`//`) unless `absolute`."""
    bpy.ops.wm.save_as_mainfile(filepath=str(path), relative_remap=False)
    if not absolute:
        bpy.ops.file.make_paths_relative()
        bpy.ops.wm.save_mainfile()


def main(root: Path) -> None:
    outside, job = root / "outside", root / "job"
    secret, inside = outside / "secret.png", job / "tex" / "inside.png"
    png(secret, MAGENTA)
    png(inside, GREEN)
    scene(str(secret))
    bpy.data.libraries.write(str(outside / "lib.blend"), {bpy.data.objects["plane"]})
    scene(str(inside))
    save(job / "clean.blend")
    scene(str(secret))
    save(job / "image.blend", absolute=True)
    save(job / "relative.blend")
    scene(str(inside))
    with bpy.data.libraries.load(str(outside / "lib.blend"), link=True) as (_, linked):
        linked.objects = ["plane"]
    bpy.context.scene.collection.objects.link(linked.objects[0])
    save(job / "library.blend")
    bpy.ops.file.pack_libraries()
    save(job / "packed.blend")
    scene(str(inside))
    with bpy.data.libraries.load(str(job / "library.blend"), link=True) as (_, linked):
        linked.objects = ["plane"]
    bpy.context.scene.collection.objects.link(linked.objects[0])
    save(job / "nested.blend")
    scene(str(inside))
    volume = bpy.data.volumes.new("smoke")
    volume.filepath = str(outside / "smoke.vdb")
    bpy.context.scene.collection.objects.link(bpy.data.objects.new("smoke", volume))
    save(job / "volume.blend", absolute=True)
    scene(str(inside))
    tiles = bpy.data.images.new("tiles", 4, 4, tiled=True)
    tiles.source, tiles.filepath = "TILED", str(outside / "tiles.<UDIM>.png")
    tiles.use_fake_user = True
    save(job / "udim.blend", absolute=True)
    scene(str(inside))
    plane = bpy.data.objects["plane"]
    plane.modifiers.new("particles", "PARTICLE_SYSTEM")
    cache = plane.particle_systems[0].point_cache
    cache.use_disk_cache, cache.use_external = True, True
    cache.filepath, cache.name = str(outside / "cache"), "particles"
    save(job / "cache.blend", absolute=True)
    scene(str(inside))
    importing(str(outside / "mesh.obj"), computed=False)
    save(job / "import.blend", absolute=True)
    scene(str(inside))
    importing(str(outside / "mesh.obj"), computed=True)
    save(job / "computed.blend", absolute=True)
    scene(str(inside))
    file_output(outside / "written")
    save(job / "output.blend", absolute=True)


if __name__ == "__main__":
    main(Path(sys.argv[sys.argv.index("--") + 1]))
