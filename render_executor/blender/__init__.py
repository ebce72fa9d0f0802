"""Rendering a frame with Blender in a subprocess: the bpy wheel by default, or the Blender
at `BLENDER_PATH`. `runner` starts and watches the process; `inside` is the script Blender
runs (stdlib and bpy only, so any Blender can run it); `checks` re-checks what it made;
`blendfile` reads the libraries a `.blend` links and `fence` walls Blender in, so that it
reads nothing outside the job's folder."""
