"""One local IPFS node (real Kubo code behind the HTTP facade) for the package's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devchain.process import free_port
from kubonode.process import KuboProcess


@pytest.fixture(scope="package")
def kubo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KuboProcess]:
    node = KuboProcess(tmp_path_factory.mktemp("ipfs") / "repo", free_port()).start()
    yield node
    node.stop()
