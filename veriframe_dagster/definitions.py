"""The Dagster code location ``veriframe`` (see workspace.yaml).

Assets, sensors and checks are added here as the chain and render parts land; loading it must
stay cheap, because the webserver, the daemon and every run worker import it.
"""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions()
