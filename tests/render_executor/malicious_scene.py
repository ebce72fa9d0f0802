"""Run by Blender: `-- SOURCE.blend OUT.blend MARKERS`. Saves SOURCE with three ways for a file
to run code when opened or rendered, each writing a marker file into MARKERS if it runs:
a registered (auto-run) text block, the render and frame-change handlers it registers, and a
scripted driver with a Python expression."""

import sys

import bpy

source, out, markers = sys.argv[sys.argv.index("--") + 1 :]
bpy.ops.wm.open_mainfile(filepath=source)
text = bpy.data.texts.new("autorun.py")
text.use_module = True  # "Register": run when the file is opened with scripts allowed
text.write(
    f"""
import bpy, pathlib
pathlib.Path({markers!r}, "autorun").write_text("ran")
def on_render(*args):
    pathlib.Path({markers!r}, "handler").write_text("ran")
bpy.app.handlers.render_pre.append(on_render)
bpy.app.handlers.frame_change_pre.append(on_render)
"""
)
cube = bpy.data.objects["cube"]
driver = cube.driver_add("location", 0).driver
driver.type = "SCRIPTED"
driver.expression = f"__import__('pathlib').Path({markers!r}, 'driver').write_text('ran') and 0"
bpy.ops.wm.save_as_mainfile(filepath=out)
