"""The resources are narrow, plain configuration until used: the warehouse resolves lazily,
each holds the few settings its users read, and no secret is ever shown by Dagster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value

from veriframe_core.settings import Settings
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_dagster.definitions import build_definitions
from veriframe_dagster.resources import build_resources

PASSWORD = "s3cr3t-Pa55word"
OPERATOR_KEY = "0x" + "5e" * 31


def test_without_a_database_url_the_warehouse_is_the_embedded_server_on_first_use(
    embedded_settings: Settings, embedded_pg: EmbeddedPostgres
) -> None:
    warehouse = build_resources(embedded_settings)["warehouse"]
    assert warehouse.url is None
    assert warehouse.connection_url() == embedded_pg.url(embedded_settings.warehouse_db_name)
    with warehouse.engine().connect() as conn:  # adopted, migrated
        assert conn.execute(sa.text("SELECT count(*) FROM chain_cursor")).scalar_one() >= 0


def test_a_bare_postgres_url_gets_the_psycopg2_driver(
    embedded_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql://u:p@db.example:5432/warehouse"
    monkeypatch.setenv("VERIFRAME_DATABASE_URL", url)
    settings = embedded_settings.model_copy(update={"database_url": url})
    warehouse = build_resources(settings)["warehouse"]
    assert warehouse.connection_url() == "postgresql+psycopg2://u:p@db.example:5432/warehouse"


def test_chain_settings_flow_into_the_ingestion_target(embedded_settings: Settings) -> None:
    settings = embedded_settings.model_copy(
        update={
            "starknet_rpc_url": "https://node.example/rpc",
            "job_registry_address": "0x0ABC",
            "start_block": 812345,
            "ingest_batch_events": 77,
        }
    )
    resources = build_resources(settings)
    target = resources["chain"].target()
    assert (target.rpc_url, target.contract, target.start_block) == (
        "https://node.example/rpc",
        0xABC,
        812345,
    )
    assert resources["ingestion"].batch_events == 77


def test_without_a_registry_the_chain_and_operator_are_devchains(tmp_path: Path) -> None:
    """Read from devchain's chain file on use, which `up` writes after Dagster started."""
    settings = Settings(data_dir=tmp_path / "data")
    resources = build_resources(settings)
    chain, operator = resources["chain"], resources["operator"]
    with pytest.raises(RuntimeError, match="JobRegistry address unknown"):
        chain.target()
    owner = {"address": "0x1", "private_key": "0x2"}
    settings.devchain_chain_file.parent.mkdir(parents=True)
    settings.devchain_chain_file.write_text(
        json.dumps(
            {
                "rpc_url": "http://127.0.0.1:5050/rpc",
                "job_registry_address": "0xabc",
                "owner_address": "0x1",
                "accounts": [owner],
            }
        )
    )
    assert chain.target().contract == 0xABC
    assert operator.account(chain) == (1, 2)


def test_resources_are_narrow() -> None:
    """A few fields each: Dagster builds a sensor's resources on every evaluation."""
    resources = build_resources(Settings())
    assert "settings" not in resources
    for key, resource in resources.items():
        assert len(type(resource).model_fields) <= 5, key


def test_no_resource_config_dagster_exposes_contains_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"postgresql://vf:{PASSWORD}@db.example:5432/warehouse"
    storage = f"postgresql://dg:{PASSWORD}@db.example:5432/dagster"
    monkeypatch.setenv("VERIFRAME_DATABASE_URL", url)
    monkeypatch.setenv("VERIFRAME_DAGSTER_DATABASE_URL", storage)
    monkeypatch.setenv("VERIFRAME_API_JWT_SECRET", PASSWORD * 3)
    monkeypatch.setenv("VERIFRAME_OPERATOR_ADDRESS", "0x1")
    monkeypatch.setenv("VERIFRAME_OPERATOR_PRIVATE_KEY", OPERATOR_KEY)
    defs = build_definitions(Settings())

    # everything the webserver and daemon get about the code location: resources, their
    # config schema and values, assets, sensors, checks
    snapshot = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    for secret in (PASSWORD, OPERATOR_KEY):
        assert secret not in snapshot
        for resource in defs.resources.values():
            assert secret not in repr(resource.model_dump())
    for variable in ("VERIFRAME_DATABASE_URL", "VERIFRAME_OPERATOR_PRIVATE_KEY"):
        assert variable in snapshot  # shown by name only
    # the values are still what runs use
    resources = build_resources(Settings())
    assert resources["warehouse"].connection_url() == url.replace(
        "postgresql://", "postgresql+psycopg2://"
    )
    assert resources["operator"].account(resources["chain"]) == (1, int(OPERATOR_KEY, 16))


def test_a_secret_set_only_outside_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VERIFRAME_DATABASE_URL", raising=False)
    settings = Settings(database_url=f"postgresql://vf:{PASSWORD}@db.example/warehouse")
    with pytest.raises(ValueError, match="export VERIFRAME_DATABASE_URL") as error:
        build_resources(settings)
    assert PASSWORD not in str(error.value)
