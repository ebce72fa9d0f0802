"""Fixtures that run a real devchain process and drive it with starknet-py over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from devchain.process import DevchainProcess
from tests.support.chain import Driver
from veriframe_core.processes import free_port


@pytest.fixture(scope="module")
def devchain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevchainProcess]:
    process = DevchainProcess(tmp_path_factory.mktemp("devchain") / "state", free_port())
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def driver(devchain: DevchainProcess) -> Driver:
    chain_file = devchain.state_dir / "chain.json"
    return Driver(json.loads(chain_file.read_text()))
