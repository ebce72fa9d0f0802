"""The resources are the settings as plain configuration until used: the warehouse resolves
lazily, nothing is restated, and no secret is ever shown by Dagster."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value

from veriframe_core.settings import Settings
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_dagster.definitions import build_definitions
from veriframe_dagster.defs.chain.resources import chain_resources

PASSWORD = "s3cr3t-Pa55word"


def test_without_a_database_url_the_warehouse_is_the_embedded_server_on_first_use(
    embedded_settings: Settings, embedded_pg: EmbeddedPostgres
) -> None:
    warehouse = chain_resources(embedded_settings)["warehouse"]
    assert warehouse.settings.database_url is None
    assert warehouse.url() == embedded_pg.url(embedded_settings.warehouse_db_name)
    with warehouse.engine().connect() as conn:  # adopted, migrated
        assert conn.execute(sa.text("SELECT count(*) FROM chain_cursor")).scalar_one() >= 0


def test_a_bare_postgres_url_gets_the_psycopg2_driver(
    embedded_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql://u:p@db.example:5432/warehouse"
    monkeypatch.setenv("VERIFRAME_DATABASE_URL", url)
    settings = embedded_settings.model_copy(update={"database_url": url})
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
    assert chain.config().ingest_batch_events == 77


def test_resources_carry_every_setting_with_its_own_default() -> None:
    """Built from the one Settings object: every field, with Settings' value, none restated."""
    settings = Settings()
    resource = chain_resources(settings)["settings"]
    config = resource.settings()
    for name in Settings.model_fields:
        if name not in Settings.secret_fields() and name not in ("data_dir",):
            assert getattr(config, name) == getattr(settings, name), name
    assert config.data_dir == settings.data_dir.resolve()


def test_no_resource_config_dagster_exposes_contains_a_database_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"postgresql://vf:{PASSWORD}@db.example:5432/warehouse"
    storage = f"postgresql://dg:{PASSWORD}@db.example:5432/dagster"
    monkeypatch.setenv("VERIFRAME_DATABASE_URL", url)
    monkeypatch.setenv("VERIFRAME_DAGSTER_DATABASE_URL", storage)
    monkeypatch.setenv("VERIFRAME_API_JWT_SECRET", PASSWORD * 3)
    defs = build_definitions(Settings())

    # everything the webserver and daemon get about the code location: resources, their
    # config schema and values, assets, sensors, checks
    snapshot = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert PASSWORD not in snapshot
    assert "VERIFRAME_DATABASE_URL" in snapshot  # shown by name only
    for resource in defs.resources.values():
        assert PASSWORD not in repr(resource.model_dump())
    # the value is still what runs use
    assert chain_resources(Settings())["warehouse"].url() == url.replace(
        "postgresql://", "postgresql+psycopg2://"
    )


def test_a_secret_set_only_outside_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VERIFRAME_DATABASE_URL", raising=False)
    settings = Settings(database_url=f"postgresql://vf:{PASSWORD}@db.example/warehouse")
    with pytest.raises(ValueError, match="export VERIFRAME_DATABASE_URL") as error:
        chain_resources(settings)
    assert PASSWORD not in str(error.value)
