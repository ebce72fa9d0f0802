"""Contract storage with its history, so reads can be made at any block and reorgs undone.

Every key keeps the list of (block number, value) it took, in block order. A read at block
N is the last value written at or before N; a reorg drops the entries after the fork block.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

StorageKey = tuple  # (contract address, variable name, *map keys)


class VersionedStorage:
    """All contracts' storage, versioned by block number."""

    def __init__(self) -> None:
        self._history: dict[StorageKey, list[tuple[int, int]]] = {}

    def read(self, key: StorageKey, block: int) -> int:
        """The value of `key` at the end of block `block` (0 when never written)."""
        history = self._history.get(key)
        if not history:
            return 0
        if history[-1][0] <= block:
            return history[-1][1]
        index = bisect_right(history, (block, float("inf")))
        return history[index - 1][1] if index else 0

    def commit(self, block: int, writes: dict[StorageKey, int]) -> None:
        """Record the writes of block `block` (blocks are committed in increasing order)."""
        for key, value in writes.items():
            history = self._history.setdefault(key, [])
            if history and history[-1][0] == block:
                history[-1] = (block, value)
            else:
                history.append((block, value))

    def rollback(self, after_block: int, keys: Iterable[StorageKey]) -> None:
        """Forget every write of `keys` made after `after_block`."""
        for key in keys:
            history = self._history.get(key)
            if not history:
                continue
            while history and history[-1][0] > after_block:
                history.pop()
            if not history:
                del self._history[key]

    def keys_of(self, contract: int) -> list[StorageKey]:
        """Every key a contract has written (for getStorageAt's address lookup)."""
        return [key for key in self._history if key[0] == contract]


class TxState:
    """The storage view of one transaction: reads fall through to the chain, writes are buffered.

    A reverted transaction simply drops its buffer; a successful one hands `writes` to the
    block being built.
    """

    def __init__(self, storage: VersionedStorage, block: int, base: dict[StorageKey, int]):
        self._storage = storage
        self._block = block
        self._base = base  # writes of earlier transactions of the block being built
        self.writes: dict[StorageKey, int] = {}

    def read(self, key: StorageKey) -> int:
        if key in self.writes:
            return self.writes[key]
        if key in self._base:
            return self._base[key]
        return self._storage.read(key, self._block)

    def write(self, key: StorageKey, value: int) -> None:
        self.writes[key] = value
