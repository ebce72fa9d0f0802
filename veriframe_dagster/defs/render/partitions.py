"""Jobs as partitions: one dynamic partition of `render` per chain job id."""

import dagster as dg

RENDER_PARTITIONS = dg.DynamicPartitionsDefinition(name="render_jobs")
RENDER_TAG = "veriframe/render"
"""Tag of render runs; dagster.yaml's run coordinator caps how many run at once."""
