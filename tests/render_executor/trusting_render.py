"""Run by Blender: `-- FILE.blend OUT.png`. Opens FILE trusting its scripts and renders it: what
an unsafe worker would do (the control that shows the malicious scene's code does run)."""

import sys

import bpy

blend, out = sys.argv[sys.argv.index("--") + 1 :]
bpy.context.preferences.filepaths.use_scripts_auto_execute = True
bpy.ops.wm.open_mainfile(filepath=blend, use_scripts=True)
scene = bpy.context.scene
scene.render.resolution_x, scene.render.resolution_y = 32, 24
scene.cycles.samples = 1
scene.render.filepath = out
scene.frame_set(2)
bpy.ops.render.render(write_still=True)
