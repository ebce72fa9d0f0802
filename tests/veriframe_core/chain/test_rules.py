"""The contract's rules are written once (`veriframe_core.chain.rules`): devchain's contract
applies them, ingestion replays them and the API's eligibility follows them. Driven through
every reputation band on devchain, all three agree with the rules at every step."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from api.protocol import claims
from tests.support.activity import CIDS, Activity
from tests.support.chain import Driver
from tests.support.warehouse import assert_tables_match_contract, fresh_warehouse, ingestor
from veriframe_core.chain import rules
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.warehouse.embedded import EmbeddedPostgres

MINIMUMS = (0, 600, 900)  # 0: created without one (the contract reads it as 400)


@pytest.fixture(scope="module")
def warehouse(embedded_pg: EmbeddedPostgres) -> Iterator[sa.Engine]:
    engine = fresh_warehouse(embedded_pg)
    yield engine
    engine.dispose()


class Journey:
    """One worker taken through registration, verification, every rating band, slashes and
    unverification, with the rules' prediction checked after every step."""

    def __init__(self, chain: Driver, engine: sa.Engine):
        self.chain, self.engine = chain, engine
        self.activity = Activity(chain, creators=slice(1, 2), workers=slice(2, 3))
        self.creator, self.worker = self.activity.creators[0], self.activity.workers[0]
        self.address = normalize_address(self.worker.address)
        self.expected = {"reputation": 0, "jobs_completed": 0, "jobs_failed": 0}
        self.registered = self.verified = False
        self.jobs = {}  # minimum reputation -> an open job with it

    def status(self) -> dict[str, int]:
        verified, reputation, completed, failed = self.chain.view(
            self.chain.registry, "get_worker_status", self.worker.address
        )
        assert bool(verified) == self.verified
        return {"reputation": reputation, "jobs_completed": completed, "jobs_failed": failed}

    def check(self) -> None:
        """Chain, warehouse and API agree with what the rules predicted."""
        assert self.status() == self.expected
        ingestor(self.engine, self.chain).tick(60, until_caught_up=True)
        assert_tables_match_contract(self.chain, self.engine, result_cids=False)
        with self.engine.connect() as conn:
            facts = claims.load_worker(conn, self.address, max_failures=3)
        for minimum, job in self.jobs.items():
            on_chain = self.chain.view(
                self.chain.registry, "is_worker_eligible", self.worker.address, job
            )
            predicted = rules.is_worker_eligible(
                registered=self.registered,
                verified=self.verified,
                min_reputation=minimum,
                **self.expected,
            )
            api_lets_claim = claims.ineligibility(
                facts
            ) is None and facts.reputation >= rules.min_reputation_of(minimum)
            assert on_chain == predicted == api_lets_claim, (minimum, self.expected)

    def register(self) -> None:
        self.chain.send(self.worker, self.chain.reg("register_worker", 0xB0B))
        self.registered = True
        self.expected["reputation"] = rules.START_REPUTATION
        self.check()

    def verify(self, status: bool) -> None:
        self.chain.send(
            self.chain.owner, self.chain.reg("verify_worker", self.worker.address, status)
        )
        self.verified = status
        self.expected["reputation"] = rules.reputation_after_verification(
            self.expected["reputation"], status
        )
        self.check()

    def rate(self, score: int) -> None:
        self.activity.finish_and_rate(self.worker, score)
        outcome = rules.rating_outcome(self.expected["reputation"], score)
        if outcome is not None:
            self.expected["reputation"], counter = outcome
            self.expected[counter] += 1
        self.check()

    def slash(self, amount: int) -> None:
        self.chain.send(
            self.chain.owner,
            self.chain.reg("slash_worker_reputation", self.worker.address, amount),
        )
        self.expected["reputation"] = rules.reputation_after_slash(
            self.expected["reputation"], amount
        )
        self.expected["jobs_failed"] += 1
        self.check()

    def open_jobs(self) -> None:
        """One far-deadline job per minimum, for the eligibility views."""
        chain, deadline = self.chain, self.chain.now() + 10**6
        cid = cid_to_felts(CIDS[0])
        for minimum in MINIMUMS:
            chain.send(
                self.creator,
                chain.reg("create_job_with_requirements", *cid, 10**18, deadline, minimum),
            )
            self.jobs[minimum] = chain.view(chain.registry, "get_job_counter")


def test_devchain_projection_and_api_follow_the_shared_rules_through_every_band(
    chain: Driver, warehouse: sa.Engine
) -> None:
    journey = Journey(chain, warehouse)
    journey.activity.setup_workers()  # registers, approves; the lone worker stays unverified
    journey.registered = True
    journey.expected["reputation"] = rules.START_REPUTATION
    journey.open_jobs()
    journey.check()  # registered, not verified: eligible nowhere
    journey.verify(True)  # 500 -> 600
    for score in (95, 80, 65, 50, 39, 0):  # every band: +20, +10, +5, none, -15, -15
        journey.rate(score)
    assert journey.expected["reputation"] == 600 + 20 + 10 + 5 - 15 - 15
    assert journey.expected["jobs_failed"] == 2  # 2 of 5: the rate rule needs more than 5
    journey.rate(100)  # 2 of 6 failed, 33 % > 30 %: eligible nowhere from now on
    assert not rules.is_worker_eligible(
        registered=True, verified=True, min_reputation=0, **journey.expected
    )
    journey.verify(False)  # above 400: -200
    journey.slash(300)
    journey.verify(True)  # back to at least 600
    journey.verify(False)  # 600 -> 400
    journey.verify(False)  # at or below 400: to 200
    journey.slash(999)  # floor 1
    assert journey.expected["reputation"] == rules.MIN_REPUTATION
    journey.verify(True)
