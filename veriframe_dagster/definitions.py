"""The Dagster code location (named as `dagster_home.CODE_LOCATION` says, in workspace.yaml too).

One `Definitions`: each domain's definitions (`defs/<domain>/definitions.py`, its one entry
point; its jobs and schedules in its `jobs.py`) plus the resources built once from this
deployment's settings. Settings reach Dagster code by one route: at run and tick time through
those narrow resources (`veriframe_dagster.resources`), which assets, checks and jobs take
as resource parameters and sensors as the same objects, handed over here (as parameters,
Dagster would make an instance and build them on every tick: 6-8x a tick's CPU, the code
server's CPU at rest doubled; bench/README.md, "Narrow resources"); what shapes the
definitions themselves (sensor intervals, crons, the reputation partitions' first day) is
read here, when they are built.

Why not Dagster's autoloading (`dg.components.load_from_defs_folder` / `load_defs` with
`[tool.dg]` in pyproject.toml): the definitions are a function of `Settings`, and tests and
benches build them for settings of their own with `build_definitions(settings)`. Autoloaded
entry points (`@dg.definitions`) take no arguments (or a `ComponentLoadContext`), so they
could only read the process's environment: the code location would be assembled by another
path than the one tests exercise, or tests would have to rewrite the environment. `[tool.dg]`
configures the `dg` CLI (dagster-dg-cli), which the project does not install. The `defs/`
folder layout is kept; the domains are listed below.

Loading it must stay cheap (the webserver, the daemon and every run worker import it):
nothing here connects, starts a server or imports the chain stack; resources resolve on
first use.
"""

from __future__ import annotations

import dagster as dg

from veriframe_core.settings import Settings, get_settings
from veriframe_dagster.defs.chain.definitions import chain_defs
from veriframe_dagster.defs.render.definitions import render_defs
from veriframe_dagster.defs.reputation.definitions import reputation_defs
from veriframe_dagster.defs.sanctions.definitions import sanctions_defs
from veriframe_dagster.defs.settlement.definitions import settlement_defs
from veriframe_dagster.defs.uploads.definitions import uploads_defs
from veriframe_dagster.resources import build_resources


def build_definitions(settings: Settings) -> dg.Definitions:
    """All definitions for `settings` (tests build their own; the code location uses the
    environment's).

    Runs execute in process: every step of ours is one Postgres statement or a Pipes
    subprocess, and the multiprocess executor's subprocess per step imports the definitions
    again (~1.5 s of CPU each), which was most of a reputation run's time."""
    resources = build_resources(settings)
    return dg.Definitions.merge(
        chain_defs(settings, resources),
        render_defs(resources),
        reputation_defs(settings, resources),
        settlement_defs(settings),
        sanctions_defs(resources),
        uploads_defs(settings),
        dg.Definitions(resources=resources, executor=dg.in_process_executor),
    )


defs = build_definitions(get_settings())
