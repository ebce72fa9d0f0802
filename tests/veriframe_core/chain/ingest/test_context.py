"""Reading what `JobCreated` leaves out from the transaction's calls: accepted only on a match."""

from __future__ import annotations

import pytest

from veriframe_core.chain.events import event_codec
from veriframe_core.chain.ingest.calldata import (
    CREATE_JOB,
    CREATE_JOB_WITH_REQUIREMENTS,
    EventContext,
    multicall,
)
from veriframe_core.chain.rules import DEFAULT_MIN_REPUTATION

REGISTRY = 0x1234
CREATOR = 0xABC
OTHER_CONTRACT = 0x999


def calldata(*calls: tuple[int, int, list[int]]) -> list[str]:
    felts = [len(calls)]
    for to, selector, args in calls:
        felts += [to, selector, len(args), *args]
    return [hex(f) for f in felts]


def created_event(reward: int, deadline: int, creator: int = CREATOR) -> dict:
    selector = event_codec("job_registry").selector("JobCreated")
    return {
        "keys": [hex(selector), hex(7), hex(creator)],
        "data": [hex(reward % 2**128), hex(reward >> 128), hex(deadline)],
    }


def created_jobs(events: list[dict], *calls, sender: int = CREATOR) -> list[dict] | None:
    context = EventContext(REGISTRY, event_codec("job_registry"))  # no node needed
    tx = {"sender_address": hex(sender), "calldata": calldata(*calls)}
    return context.created_jobs(tx, multicall(tx["calldata"]), events)


def create(reward: int, deadline: int, cid: tuple[int, int] = (11, 12), min_rep: int | None = None):
    args = [*cid, reward % 2**128, reward >> 128, deadline]
    if min_rep is None:
        return (REGISTRY, CREATE_JOB, args)
    return (REGISTRY, CREATE_JOB_WITH_REQUIREMENTS, [*args, min_rep])


def test_each_job_gets_the_cid_and_minimum_reputation_of_its_call() -> None:
    big = 2**130 + 5  # a u256 reward with a high limb
    events = [created_event(10**18, 1000), created_event(big, 2000), created_event(9, 3000)]
    found = created_jobs(
        events,
        (0x777, 0x1, [1, 2]),  # an approve on the token: not ours
        create(10**18, 1000, (21, 22)),
        create(big, 2000, (31, 0), min_rep=650),
        create(9, 3000, (41, 0), min_rep=0),  # stored 0: the contract's view answers 400
    )
    assert found == [
        {"asset_cid_part1": 21, "asset_cid_part2": 22, "min_reputation": DEFAULT_MIN_REPUTATION},
        {"asset_cid_part1": 31, "asset_cid_part2": 0, "min_reputation": 650},
        {"asset_cid_part1": 41, "asset_cid_part2": 0, "min_reputation": DEFAULT_MIN_REPUTATION},
    ]


@pytest.mark.parametrize(
    ("events", "calls", "sender"),
    [
        # another account sent the transaction than the event names as creator
        ([created_event(5, 100)], [create(5, 100)], 0xDEF),
        # the reward or the deadline of the call differs from the event's
        ([created_event(5, 100)], [create(6, 100)], CREATOR),
        ([created_event(5, 100)], [create(5, 101)], CREATOR),
        # more events than calls: another contract created a job inside the transaction
        ([created_event(5, 100), created_event(5, 100)], [create(5, 100)], CREATOR),
        # create_job on another contract does not count
        ([created_event(5, 100)], [(OTHER_CONTRACT, CREATE_JOB, [1, 2, 5, 0, 100])], CREATOR),
        # wrong argument count for the entry point
        ([created_event(5, 100)], [(REGISTRY, CREATE_JOB, [1, 2, 5, 0, 100, 9])], CREATOR),
    ],
)
def test_anything_that_does_not_match_falls_back_to_the_views(events, calls, sender) -> None:
    assert created_jobs(events, *calls, sender=sender) is None


def test_calldata_that_is_not_a_multicall_gives_no_calls() -> None:
    assert multicall([]) == []
    assert multicall(["0x2", "0x1", "0x2", "0x1", "0x5"]) == []  # says 2 calls, holds less
    assert multicall(["0x1", "0x1", "0x2", "0x0", "0x9"]) == []  # trailing felt
    assert multicall(["0x1", "zz"]) == []
    assert multicall(calldata((1, 2, [3, 4]))) == [(1, 2, ["0x3", "0x4"])]
