"""The whole JobRegistry contract driven by starknet-py through devchain over HTTP."""

from __future__ import annotations

import pytest
from starknet_py.net.client_errors import ClientError
from starknet_py.net.client_models import TransactionExecutionStatus

from tests.support.chain import Driver
from veriframe_core.chain.cids import cid_to_felts, felts_to_cid
from veriframe_core.chain.events import event_codec

CID = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
REWARD = 5 * 10**18
codec = event_codec("job_registry")


def registry_events(driver: Driver, receipt) -> list:
    return [
        codec.decode(e.keys, e.data)
        for e in receipt.events
        if e.from_address == driver.registry.address
    ]


def create_job(driver: Driver, creator, *, min_rep: int | None = None, ttl: int = 3600) -> int:
    p1, p2 = cid_to_felts(CID)
    deadline = driver.now() + ttl
    if min_rep is None:
        create = driver.reg("create_job", p1, p2, REWARD, deadline)
    else:
        create = driver.reg("create_job_with_requirements", p1, p2, REWARD, deadline, min_rep)
    approve = driver.call_of(driver.token, "approve", driver.registry.address, REWARD)
    receipt = driver.send(creator, approve, create)
    (created,) = [e for e in registry_events(driver, receipt) if e.name == "JobCreated"]
    return created.fields["job_id"]


def make_worker(driver: Driver, account, *, verify: bool = True) -> None:
    driver.send(account, driver.reg("register_worker", 0xC1D))
    if verify:
        driver.send(driver.owner, driver.reg("verify_worker", account.address, True))


def finish_and_rate(driver: Driver, creator, worker, score: int) -> None:
    """A job from `creator`, done by `worker`, paid after its deadline and rated `score`."""
    job = create_job(driver, creator, ttl=30)
    driver.send(worker, driver.reg("submit_result", job, 7, 0))
    driver.rpc("devchain_increaseTime", {"seconds": 31})
    driver.send(
        creator,
        driver.reg("finalize_job", job),
        driver.reg("update_worker_reputation", worker.address, job, score),
    )


def expect_revert(driver: Driver, account, call, reason: str) -> None:
    """The rule holds both ways: estimation fails with 41, and a sent tx lands REVERTED."""
    with pytest.raises(ClientError) as estimated:
        driver.send(account, call)
    assert estimated.value.code == 41 and reason in str(estimated.value)
    receipt = driver.send_unestimated(account, call)
    assert receipt.execution_status == TransactionExecutionStatus.REVERTED
    assert reason in receipt.revert_reason
    assert receipt.events == []


def status(driver: Driver, worker) -> tuple:
    return tuple(driver.view(driver.registry, "get_worker_status", worker.address))


def test_create_job_escrows_reward_and_stores_fields(driver: Driver) -> None:
    creator = driver.accounts[1]
    balance_before = driver.view(driver.token, "balance_of", creator.address)
    job_a = create_job(driver, creator)
    job_b = create_job(driver, creator, min_rep=700)
    assert job_b == job_a + 1
    assert driver.view(driver.registry, "get_job_counter") == job_b
    assert driver.view(driver.token, "balance_of", creator.address) == balance_before - 2 * REWARD
    assert driver.view(driver.token, "balance_of", driver.registry.address) >= 2 * REWARD
    assert driver.view(driver.registry, "get_job_creator", job_a) == creator.address
    assert driver.view(driver.registry, "get_job_reward", job_a) == REWARD
    assert felts_to_cid(*driver.view(driver.registry, "get_job_asset_cid", job_a)) == CID
    assert driver.view(driver.registry, "get_minimum_reputation_for_job", job_a) == 400
    assert driver.view(driver.registry, "get_minimum_reputation_for_job", job_b) == 700
    assert driver.view(driver.registry, "get_job_worker", job_a) == 0
    assert driver.view(driver.registry, "is_job_completed", job_a) is False


def test_create_job_reverts(driver: Driver) -> None:
    creator = driver.accounts[1]
    now = driver.now()
    reg = driver.reg
    expect_revert(driver, creator, reg("create_job", 1, 0, 0, now + 100), "Reward must be positive")
    expect_revert(
        driver, creator, reg("create_job", 1, 0, 5, now - 1), "Deadline must be in future"
    )
    expect_revert(
        driver,
        creator,
        reg("create_job_with_requirements", 1, 0, 5, now + 100, 1001),
        "Invalid min reputation",
    )
    poor = driver.accounts[11]
    everything = driver.view(driver.token, "balance_of", poor.address)
    approve = driver.call_of(driver.token, "approve", driver.registry.address, everything + 1)
    driver.send(poor, approve)
    expect_revert(
        driver,
        poor,
        reg("create_job", 1, 0, everything + 1, now + 100),
        "ERC20: insufficient balance",
    )
    stranger = driver.accounts[10]
    expect_revert(
        driver,
        stranger,
        reg("create_job", 1, 0, 10**30, now + 100),
        "ERC20: insufficient allowance",
    )


def test_worker_registration_and_verification(driver: Driver) -> None:
    worker = driver.accounts[2]
    receipt = driver.send(worker, driver.reg("register_worker", 0xABC))
    (registered,) = registry_events(driver, receipt)
    assert registered.name == "WorkerRegistered"
    assert registered.fields["worker"] == worker.address
    assert registered.fields["info_cid"] == 0xABC
    assert status(driver, worker) == (False, 500, 0, 0)
    expect_revert(driver, worker, driver.reg("register_worker", 0xABC), "Worker already registered")
    expect_revert(driver, worker, driver.reg("register_worker", 0), "Invalid worker info CID")
    expect_revert(
        driver, worker, driver.reg("verify_worker", worker.address, True), "Caller is not the owner"
    )
    expect_revert(
        driver,
        driver.owner,
        driver.reg("verify_worker", driver.accounts[9].address, True),
        "Worker not registered",
    )
    receipt = driver.send(driver.owner, driver.reg("verify_worker", worker.address, True))
    (verified,) = registry_events(driver, receipt)
    assert verified.fields == {
        "worker": worker.address,
        "verified": True,
        "verifier": driver.owner.address,
    }
    assert status(driver, worker) == (True, 600, 0, 0)
    driver.send(driver.owner, driver.reg("verify_worker", worker.address, False))  # 600 > 400
    assert status(driver, worker) == (False, 400, 0, 0)
    driver.send(driver.owner, driver.reg("verify_worker", worker.address, False))  # 400 → 200
    assert status(driver, worker) == (False, 200, 0, 0)
    driver.send(driver.owner, driver.reg("verify_worker", worker.address, True))
    assert status(driver, worker) == (True, 600, 0, 0)


def test_submit_finalize_and_every_reputation_band(driver: Driver) -> None:
    creator, worker = driver.accounts[3], driver.accounts[4]
    make_worker(driver, worker)
    bands = [
        (95, 20, "completed"),
        (80, 10, "completed"),
        (65, 5, "completed"),
        (50, 0, None),
        (10, -15, "failed"),
    ]
    for score, delta, counter in bands:
        job = create_job(driver, creator, ttl=60)
        expect_revert(
            driver, creator, driver.reg("submit_result", job, 1, 2), "Creator cannot submit result"
        )
        expect_revert(driver, worker, driver.reg("finalize_job", job), "Deadline not reached")
        receipt = driver.send(worker, driver.reg("submit_result", job, *cid_to_felts(CID)))
        assert [e.name for e in registry_events(driver, receipt)] == ["ResultSubmitted"]
        assert driver.view(driver.registry, "get_job_worker", job) == worker.address
        expect_revert(
            driver,
            driver.accounts[2],
            driver.reg("submit_result", job, 1, 2),
            "Job already has a worker",
        )
        expect_revert(
            driver,
            creator,
            driver.reg("update_worker_reputation", worker.address, job, 90),
            "Job not completed",
        )
        driver.rpc("devchain_increaseTime", {"seconds": 61})
        unclaimed = create_job(driver, creator, ttl=30)
        driver.rpc("devchain_increaseTime", {"seconds": 31})
        expect_revert(driver, worker, driver.reg("finalize_job", unclaimed), "No worker assigned")
        paid_before = driver.view(driver.token, "balance_of", worker.address)
        receipt = driver.send(driver.accounts[9], driver.reg("finalize_job", job))  # anyone
        (finalized,) = registry_events(driver, receipt)
        assert finalized.fields == {
            "job_id": job,
            "worker": worker.address,
            "reward_amount": REWARD,
        }
        assert driver.view(driver.token, "balance_of", worker.address) == paid_before + REWARD
        assert driver.view(driver.registry, "is_job_completed", job) is True
        expect_revert(driver, worker, driver.reg("finalize_job", job), "Job already completed")
        expect_revert(
            driver,
            creator,
            driver.reg("update_worker_reputation", driver.accounts[2].address, job, 90),
            "Worker did not do this job",
        )
        expect_revert(
            driver,
            worker,
            driver.reg("update_worker_reputation", worker.address, job, 90),
            "Only job creator can rate",
        )
        expect_revert(
            driver,
            creator,
            driver.reg("update_worker_reputation", worker.address, job, 101),
            "Invalid quality score",
        )
        before = status(driver, worker)
        receipt = driver.send(
            creator, driver.reg("update_worker_reputation", worker.address, job, score)
        )
        after = status(driver, worker)
        assert after[1] == before[1] + delta
        assert after[2] == before[2] + (counter == "completed")
        assert after[3] == before[3] + (counter == "failed")
        events = registry_events(driver, receipt)
        if counter is None:
            assert events == []  # 40–59: no change, no event
        else:
            assert events[0].fields == {
                "worker": worker.address,
                "job_id": job,
                "old_reputation": before[1],
                "new_reputation": after[1],
                "quality_score": score,
            }
        if score:
            expect_revert(
                driver,
                creator,
                driver.reg("update_worker_reputation", worker.address, job, 70),
                "Job already rated",
            )


def test_reputation_caps_at_1000_and_slash_floors_at_1(driver: Driver) -> None:
    creator, worker = driver.accounts[5], driver.accounts[6]
    make_worker(driver, worker)
    driver.send(driver.owner, driver.reg("slash_worker_reputation", worker.address, 0xFFFF))
    assert status(driver, worker) == (True, 1, 0, 1)
    expect_revert(
        driver,
        driver.owner,
        driver.reg("slash_worker_reputation", worker.address, 0),
        "Slash amount must be positive",
    )
    expect_revert(
        driver,
        worker,
        driver.reg("slash_worker_reputation", worker.address, 5),
        "Caller is not the owner",
    )
    driver.send(driver.owner, driver.reg("verify_worker", worker.address, True))
    assert status(driver, worker)[1] == 600
    for _ in range(21):  # 600 + 21·20 = 1020 → capped at 1000
        finish_and_rate(driver, creator, worker, 100)
    assert status(driver, worker)[1:] == (1000, 21, 1)
    receipt = driver.send(driver.owner, driver.reg("slash_worker_reputation", worker.address, 30))
    (slashed,) = registry_events(driver, receipt)
    assert slashed.name == "ReputationSlashed"
    assert slashed.fields["old_reputation"] == 1000 and slashed.fields["new_reputation"] == 970
    assert slashed.fields["reason"] == int.from_bytes(b"misconduct", "big")


def test_eligibility_rules(driver: Driver) -> None:
    creator, worker = driver.accounts[7], driver.accounts[8]
    job = create_job(driver, creator, min_rep=600, ttl=100_000)
    eligible = lambda: driver.view(driver.registry, "is_worker_eligible", worker.address, job)  # noqa: E731
    assert eligible() is False  # not registered
    make_worker(driver, worker, verify=False)
    assert eligible() is False  # not verified
    expect_revert(driver, worker, driver.reg("submit_result", job, 1, 0), "Worker not eligible")
    driver.send(driver.owner, driver.reg("verify_worker", worker.address, True))
    assert eligible() is True  # 600 ≥ 600
    driver.send(driver.owner, driver.reg("slash_worker_reputation", worker.address, 1))
    assert eligible() is False  # 599 < 600
    low_job = create_job(driver, creator, ttl=100_000)  # minimum 400
    assert driver.view(driver.registry, "is_worker_eligible", worker.address, low_job) is True
    # failure rate: completed + failed > 5 and failed/total > 30 % → not eligible
    for _ in range(5):  # 5 completed jobs (1 failure from the slash) → 6 total, 16 %
        finish_and_rate(driver, creator, worker, 95)
    assert status(driver, worker)[2:] == (5, 1)
    assert driver.view(driver.registry, "is_worker_eligible", worker.address, low_job) is True
    driver.send(
        driver.owner,
        driver.reg("slash_worker_reputation", worker.address, 1),
        driver.reg("slash_worker_reputation", worker.address, 1),
    )
    assert status(driver, worker)[2:] == (5, 3)  # 3/8 = 37 % > 30 %
    assert driver.view(driver.registry, "is_worker_eligible", worker.address, low_job) is False


def test_pause_blocks_state_changes(driver: Driver) -> None:
    creator = driver.accounts[10]
    expect_revert(driver, creator, driver.reg("pause"), "Caller is not the owner")
    receipt = driver.send(driver.owner, driver.reg("pause"))
    assert [e.name for e in registry_events(driver, receipt)] == ["Paused"]
    assert driver.view(driver.registry, "is_paused") is True
    expect_revert(driver, driver.owner, driver.reg("pause"), "Pausable: paused")
    now = driver.now()
    expect_revert(driver, creator, driver.reg("create_job", 1, 0, 5, now + 100), "Pausable: paused")
    expect_revert(driver, creator, driver.reg("register_worker", 0x1), "Pausable: paused")
    expect_revert(driver, creator, driver.reg("submit_result", 1, 1, 0), "Pausable: paused")
    expect_revert(driver, creator, driver.reg("finalize_job", 1), "Pausable: paused")
    for owner_only in (
        driver.reg("verify_worker", creator.address, True),
        driver.reg("slash_worker_reputation", creator.address, 1),
    ):
        expect_revert(driver, driver.owner, owner_only, "Pausable: paused")
    receipt = driver.send(driver.owner, driver.reg("unpause"))
    assert [e.name for e in registry_events(driver, receipt)] == ["Unpaused"]
    expect_revert(driver, driver.owner, driver.reg("unpause"), "Pausable: not paused")
    assert driver.view(driver.registry, "is_paused") is False


def test_views_answer_at_past_blocks_and_unknown_jobs(driver: Driver) -> None:
    creator = driver.accounts[1]
    before = driver.view(driver.registry, "get_job_counter")
    block_before = driver.rpc("starknet_blockNumber")
    create_job(driver, creator)
    assert driver.view(driver.registry, "get_job_counter") == before + 1
    assert driver.view(driver.registry, "get_job_counter", block_number=block_before) == before
    assert driver.view(driver.registry, "get_job_creator", 10**9) == 0
    expect_revert(driver, creator, driver.reg("submit_result", 10**9, 1, 0), "Job does not exist")
    assert driver.view(driver.registry, "owner") == driver.owner.address
