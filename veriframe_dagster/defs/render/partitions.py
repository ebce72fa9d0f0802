"""Jobs as partitions: one dynamic partition of `render` per chain job id, and the tags that
say what a render run records."""

import dagster as dg

RENDER_PARTITIONS = dg.DynamicPartitionsDefinition(name="render_jobs")
RENDER_TAG = "veriframe/render"
"""Tag of render runs; dagster.yaml's run coordinator caps how many run at once."""
ATTEMPT_TAG = "veriframe/attempt"
"""The attempt (1, 2, … of the job) whose delivery a render run records."""
FAILED_ROUND_TAG = "veriframe/failed_round"
"""The round (0, 1, …) of `render_max_failed_attempts` failed attempts a render run records."""
