"""The local parts a benchmark runs the platform on: the embedded Postgres, a devchain and an
IPFS node, each on a free port in the benchmark's folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devchain.process import DevchainProcess
from kubonode.process import KuboProcess
from tests.support.chain import Driver
from veriframe_core.processes import free_port
from veriframe_core.warehouse.embedded import EmbeddedPostgres


@contextmanager
def local_parts(
    work: Path, accounts: int = 16
) -> Iterator[tuple[EmbeddedPostgres, Driver, KuboProcess]]:
    """The three parts started in `work` (the chain with `accounts` funded accounts), and
    stopped when the block ends, however it ends."""
    postgres = EmbeddedPostgres(work / "postgres")
    postgres.start()
    chain_node = DevchainProcess(work / "chain", free_port(), accounts=accounts)
    kubo = KuboProcess(work / "ipfs", free_port())
    try:
        chain = Driver(chain_node.start())
        kubo.start()
        yield postgres, chain, kubo
    finally:
        kubo.stop()
        chain_node.stop()
        postgres.stop()
