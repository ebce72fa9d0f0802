"""The chain domain's resource: what to index (node, contract, start block) and how, from the
platform's settings.

Plain configuration at definitions load: nothing is started or connected then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from veriframe_core.settings import Settings
from veriframe_dagster.resources import SettingsResource, WarehouseResource, settings_resource

if TYPE_CHECKING:
    from veriframe_core.chain.ingest import IngestTarget


class ChainResource(dg.ConfigurableResource):
    """The chain the platform follows, for the chain checks (the sensor takes the
    definitions' `Settings` directly: see its module)."""

    settings: SettingsResource

    def config(self) -> Settings:
        return self.settings.settings()

    def target(self) -> IngestTarget:
        """The node, contract and start block (read from devchain's chain file if unset)."""
        from veriframe_core.chain.target import resolve_target

        return resolve_target(self.config())


def chain_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The shared and the chain domain's resources for this deployment's settings."""
    shared = settings_resource(settings)
    return {
        "settings": shared,
        "warehouse": WarehouseResource(settings=shared),
        "chain": ChainResource(settings=shared),
    }
