"""The Dagster code location ``veriframe`` (see workspace.yaml).

One `Definitions`: each domain's definitions plus the resources this deployment's settings
choose. Loading it must stay cheap (the webserver, the daemon and every run worker import
it): nothing here connects, starts a server or imports the chain stack; resources resolve
on first use.
"""

from __future__ import annotations

import dagster as dg

from veriframe_core.settings import Settings, get_settings
from veriframe_dagster.defs.chain.definitions import chain_defs
from veriframe_dagster.defs.chain.resources import chain_resources
from veriframe_dagster.defs.render.definitions import render_defs
from veriframe_dagster.defs.reputation.definitions import reputation_defs
from veriframe_dagster.defs.settlement.definitions import settlement_defs


def build_definitions(settings: Settings) -> dg.Definitions:
    """All definitions for `settings` (tests build their own; the code location uses the
    environment's).

    Runs execute in process: every step of ours is one Postgres statement or a Pipes
    subprocess, and the multiprocess executor's subprocess per step imports the definitions
    again (~1.5 s of CPU each), which was most of a reputation run's time."""
    return dg.Definitions.merge(
        chain_defs(settings),
        render_defs(settings),
        reputation_defs(settings),
        settlement_defs(settings),
        dg.Definitions(resources=chain_resources(settings), executor=dg.in_process_executor),
    )


defs = build_definitions(get_settings())
