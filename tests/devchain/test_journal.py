"""devchain's journal: a crash mid-write loses only the torn record, never later writes."""

from __future__ import annotations

from pathlib import Path

from devchain.genesis import open_chain


def test_torn_last_line_is_dropped_and_later_blocks_survive(tmp_path: Path) -> None:
    chain = open_chain(tmp_path, "SN_DEVCHAIN", seed=7, n_accounts=2)
    chain.mine(3)
    head = chain.latest.hash
    chain.close()
    journal = tmp_path / "chain.jsonl"
    with journal.open("ab") as f:
        f.write(b'{"k":"block","n":4,"ts":')  # the process died mid-write

    reopened = open_chain(tmp_path, "SN_DEVCHAIN", seed=7, n_accounts=2)
    assert reopened.latest.number == 3 and reopened.latest.hash == head
    reopened.mine(2)
    reopened.close()

    again = open_chain(tmp_path, "SN_DEVCHAIN", seed=7, n_accounts=2)
    assert again.latest.number == 5
    assert [b.parent_hash for b in again.blocks[1:]] == [b.hash for b in again.blocks[:-1]]
    again.close()


def test_reorg_and_clock_are_replayed(tmp_path: Path) -> None:
    chain = open_chain(tmp_path, "SN_DEVCHAIN", seed=7, n_accounts=2)
    chain.mine(4)
    chain.increase_time(1000)
    result = chain.reorg(depth=2, drop=[], reorder=False, extra_blocks=1)
    hashes = [b.hash for b in chain.blocks]
    now = chain.now()
    chain.close()
    again = open_chain(tmp_path, "SN_DEVCHAIN", seed=7, n_accounts=2)
    assert [b.hash for b in again.blocks] == hashes
    assert int(result["new_head"]["block_hash"], 16) == again.latest.hash
    assert again.now() >= now
    again.close()
