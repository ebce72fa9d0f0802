"""The chain resources are plain configuration until used, and resolve the warehouse lazily."""

from __future__ import annotations

import sqlalchemy as sa

from veriframe_dagster.defs.chain.resources import chain_resources
from veriframe_dagster.settings import Settings
from veriframe_dagster.warehouse.embedded import EmbeddedPostgres


def test_without_a_database_url_the_warehouse_is_the_embedded_server_on_first_use(
    embedded_settings: Settings, embedded_pg: EmbeddedPostgres
) -> None:
    warehouse = chain_resources(embedded_settings)["warehouse"]
    assert warehouse.database_url is None
    assert warehouse.url() == embedded_pg.url(embedded_settings.warehouse_db_name)
    with warehouse.engine().connect() as conn:  # adopted, migrated
        assert conn.execute(sa.text("SELECT count(*) FROM chain_cursor")).scalar_one() >= 0


def test_a_bare_postgres_url_gets_the_psycopg2_driver(embedded_settings: Settings) -> None:
    settings = embedded_settings.model_copy(
        update={"database_url": "postgresql://u:p@db.example:5432/warehouse"}
    )
    warehouse = chain_resources(settings)["warehouse"]
    assert warehouse.url() == "postgresql+psycopg2://u:p@db.example:5432/warehouse"


def test_chain_settings_flow_into_the_ingestion_target(embedded_settings: Settings) -> None:
    settings = embedded_settings.model_copy(
        update={
            "starknet_rpc_url": "https://node.example/rpc",
            "job_registry_address": "0x0ABC",
            "start_block": 812345,
            "ingest_batch_events": 77,
        }
    )
    chain = chain_resources(settings)["chain"]
    target = chain.target()
    assert (target.rpc_url, target.contract, target.start_block) == (
        "https://node.example/rpc",
        0xABC,
        812345,
    )
    assert chain.settings().ingest_batch_events == 77
