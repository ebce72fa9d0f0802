"""What `JobCreated` and `ResultSubmitted` leave out, recovered from the emitting transactions.

A new job's asset CID and minimum reputation, and a submission's result CID, are arguments of
the calls that emitted the events. They are read from each transaction's calldata (fetched
once); a job whose transaction does not show them plainly is read with the contract's views at
the event's block instead. Anything that does not match is never guessed.
"""

from __future__ import annotations

from collections import defaultdict

from starknet_py.hash.selector import get_selector_from_name

from veriframe_core.chain.events import EventCodec
from veriframe_core.chain.rpc import RawEvent, StarknetRpc
from veriframe_core.chain.rules import min_reputation_of

GET_ASSET_CID = get_selector_from_name("get_job_asset_cid")
GET_MIN_REPUTATION = get_selector_from_name("get_minimum_reputation_for_job")
CREATE_JOB = get_selector_from_name("create_job")
CREATE_JOB_WITH_REQUIREMENTS = get_selector_from_name("create_job_with_requirements")
SUBMIT_RESULT = get_selector_from_name("submit_result")

Call = tuple[int, int, list[str]]  # (contract, selector, arguments as hex)


def multicall(calldata: list[str]) -> list[Call]:
    """The calls in a Cairo 1 account's `__execute__` calldata: `[n, (to, selector, len, *args)…]`,
    arguments left as hex (most are never looked at).

    A plain loop (starknet-py's serializer costs ~4 ms per 1,000-call transaction, measured);
    anything that does not parse as that layout gives no calls, so what the ingestion wanted
    from it is read some other way or stays unknown, never wrong.
    """
    try:
        count, position, calls = int(calldata[0], 16), 1, []
        for _ in range(count):
            to, selector, length = (int(x, 16) for x in calldata[position : position + 3])
            args = calldata[position + 3 : position + 3 + length]
            if len(args) != length:
                return []
            calls.append((to, selector, args))
            position += 3 + length
        return calls if position == len(calldata) else []
    except (IndexError, ValueError):
        return []


class EventContext:
    """Reads, for one contract's events, what the events themselves leave out."""

    def __init__(self, contract: int, codec: EventCodec):
        self.contract = contract
        self.created = codec.selector("JobCreated")
        self.submitted = codec.selector("ResultSubmitted")

    async def read(self, rpc: StarknetRpc, events: list[RawEvent]) -> dict[int, dict[str, int]]:
        """By event position: a new job's asset CID and minimum reputation, a submission's
        result CID.

        The i-th `JobCreated` of a transaction is its i-th `create_job*` call to the contract,
        accepted only when the transaction's sender, reward and deadline agree with the event.
        A job whose transaction does not show that plainly (another contract called
        `create_job`, an account with another calldata layout) is read with the view calls
        `get_job_asset_cid` and `get_minimum_reputation_for_job` at the event's block.
        """
        jobs_by_tx: dict[str, list[int]] = defaultdict(list)
        subs: list[int] = []
        for i, e in enumerate(events):
            selector = int(e["keys"][0], 16) if e["keys"] else None
            if selector == self.created:
                jobs_by_tx[e["transaction_hash"]].append(i)
            elif selector == self.submitted:
                subs.append(i)
        sub_txs = [events[i]["transaction_hash"] for i in subs]
        tx_hashes = list(dict.fromkeys([*jobs_by_tx, *sub_txs]))
        txs = dict(zip(tx_hashes, await rpc.transactions(tx_hashes), strict=True))
        calls = {h: multicall(tx.get("calldata", [])) for h, tx in txs.items()}
        context: dict[int, dict[str, int]] = {}
        unresolved: list[int] = []
        for tx_hash, positions in jobs_by_tx.items():
            found = self.created_jobs(txs[tx_hash], calls[tx_hash], [events[i] for i in positions])
            if found is None:
                unresolved.extend(positions)
            else:
                context.update(zip(positions, found, strict=True))
        context.update(await self._created_jobs_by_view(rpc, events, unresolved))
        results: dict[int, dict[str, int]] = {}
        for tx_hash in dict.fromkeys(sub_txs):
            for to, selector, args in calls[tx_hash]:
                if (to, selector) == (self.contract, SUBMIT_RESULT) and len(args) == 3:
                    job_id, part1, part2 = (int(x, 16) for x in args)
                    results[job_id] = {"result_cid_part1": part1, "result_cid_part2": part2}
        for i in subs:
            context[i] = results.get(int(events[i]["keys"][1], 16), {})
        return context

    def created_jobs(
        self, tx: dict, calls: list[Call], events: list[RawEvent]
    ) -> list[dict[str, int]] | None:
        """The asset CID and minimum reputation of each `JobCreated` in `events` (one
        transaction's, in order) from its `create_job*` calls; None if they do not match."""
        creates = [
            (selector, args)
            for to, selector, args in calls
            if to == self.contract
            and (selector, len(args)) in ((CREATE_JOB, 5), (CREATE_JOB_WITH_REQUIREMENTS, 6))
        ]
        if len(creates) != len(events) or not tx.get("sender_address"):
            return None
        sender = int(tx["sender_address"], 16)
        found = []
        for (selector, args), event in zip(creates, events, strict=True):
            keys, data = event["keys"], event["data"]
            if len(keys) != 3 or int(keys[2], 16) != sender or len(data) != 3:
                return None
            values = [int(x, 16) for x in args]
            if values[2:5] != [int(x, 16) for x in data]:  # reward (u256) and deadline
                return None
            stored = values[5] if selector == CREATE_JOB_WITH_REQUIREMENTS else 0
            found.append(
                {
                    "asset_cid_part1": values[0],
                    "asset_cid_part2": values[1],
                    "min_reputation": min_reputation_of(stored),
                }
            )
        return found

    async def _created_jobs_by_view(
        self, rpc: StarknetRpc, events: list[RawEvent], positions: list[int]
    ) -> dict[int, dict[str, int]]:
        """New jobs' asset CID and minimum reputation from the contract's views at the
        event's block (batched)."""
        calls = []
        for i in positions:
            job_id, at = int(events[i]["keys"][1], 16), int(events[i]["block_hash"], 16)
            calls.append((self.contract, GET_ASSET_CID, [job_id], at))
            calls.append((self.contract, GET_MIN_REPUTATION, [job_id], at))
        results = await rpc.calls(calls) if calls else []
        return {
            i: {
                "asset_cid_part1": results[2 * n][0],
                "asset_cid_part2": results[2 * n][1],
                "min_reputation": results[2 * n + 1][0],
            }
            for n, i in enumerate(positions)
        }
