"""Settings per process: a GPU node loads the worker's settings only, each default once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from veriframe_core.settings import CommonSettings, Settings, WorkerSettings

RENDER_EXECUTOR = Path(__file__).resolve().parents[2] / "render_executor"


def test_worker_settings_hold_no_database_operator_creator_or_dagster_fields() -> None:
    names = set(WorkerSettings.model_fields)
    for word in ("database", "db_", "dagster", "operator", "creator", "api_jwt", "settlement"):
        assert not [name for name in names if word in name], word
    assert WorkerSettings.secret_fields() == ("worker_private_key",)


def test_no_class_declares_a_field_its_base_already_has() -> None:
    """One source of defaults: a subclass adds fields, it never redeclares one."""
    for cls, base in ((WorkerSettings, CommonSettings), (Settings, WorkerSettings)):
        assert not set(cls.__annotations__) & set(base.model_fields), cls.__name__
    assert set(CommonSettings.model_fields) < set(WorkerSettings.model_fields)
    assert set(WorkerSettings.model_fields) < set(Settings.model_fields)


def test_worker_settings_load_the_worker_and_shared_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in {
        "VERIFRAME_DATA_DIR": str(tmp_path),
        "VERIFRAME_STARKNET_RPC_URL": "http://node.example/rpc",
        "VERIFRAME_JOB_REGISTRY_ADDRESS": "0x123",
        "VERIFRAME_WORKER_API_URL": "http://api.example:8000",
        "VERIFRAME_WORKER_IPFS_GATEWAYS": "http://a.example/ipfs, http://b.example/ipfs",
        "VERIFRAME_WORKER_DEVICE": "CPU",
        "VERIFRAME_WORKER_SUBMIT_ON_CHAIN": "false",
        "VERIFRAME_DATABASE_URL": "postgresql://db.internal/veriframe",
        "VERIFRAME_OPERATOR_PRIVATE_KEY": "0xdead",
    }.items():
        monkeypatch.setenv(name, value)
    settings = WorkerSettings()
    assert settings.starknet_rpc_url == "http://node.example/rpc"
    assert settings.job_registry_address == "0x123"
    assert settings.worker_api_url == "http://api.example:8000"
    assert settings.worker_ipfs_gateways == ["http://a.example/ipfs", "http://b.example/ipfs"]
    assert settings.worker_device == "CPU" and not settings.worker_submit_on_chain
    assert settings.resolved_worker_scratch_dir == tmp_path / "worker"
    assert "postgresql" not in repr(settings) and "0xdead" not in repr(settings)
    platform = Settings()  # the platform reads the same variables, and its own
    assert platform.worker_ipfs_gateways == settings.worker_ipfs_gateways
    assert platform.database_url == "postgresql://db.internal/veriframe"


def test_the_gpu_node_code_reads_the_worker_settings_only() -> None:
    imported = {
        alias.name
        for path in RENDER_EXECUTOR.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "veriframe_core.settings"
        for alias in node.names
    }
    assert imported == {"WorkerSettings"}
