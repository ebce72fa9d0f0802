"""Verification through the claim protocol over real HTTP: a delivery opens a verification
with windows and seeds, a verifier (never the deliverer) takes it with a lease and decides
it; a rejection reopens the job, blocks its worker from it and counts against it. Over the
websocket, the job's topic follows each step and verifiers hear of every task offered."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from api.maintenance import offer_lapsed
from tests.support.api import (
    ApiServer,
    api_settings,
    bearer,
    error,
    seeded,
    sign_in,
    token_for,
)
from tests.support.chain import Driver
from tests.support.live import live
from tests.support.warehouse import ingestor
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.protocol import JobDetail, Verification, VerificationTask

CID = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
OTHER_CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
REPORT = {
    "crops": [],
    "noise_ratio": 1.0,
    "noise_z": 0.1,
    "noise_level": 3.2,
    "seconds": 4.0,
    "cpu_seconds": 5.5,
    "device": "CPU",
    "blender_version": "5.0.1",
}
MAX_REJECTIONS = 2


@pytest.fixture(scope="module")
def api_server(chain: Driver, warehouse: sa.Engine) -> Iterator[ApiServer]:
    verifier = hex(chain.accounts[8].address)  # an operator account, not a worker
    settings = api_settings(
        chain,
        api_verifier_addresses=[verifier],
        api_max_rejections=MAX_REJECTIONS,
        verification_max_failures=2,
    )
    server = ApiServer(settings, warehouse).start()
    yield server
    server.stop()


@pytest.fixture
def verifier(warehouse: sa.Engine) -> dict[str, str]:
    return bearer(token_for(warehouse, normalize_address(0xF00D), ("worker", "verifier")))


def deliver(api: httpx.Client, job: int, auth: dict[str, str]) -> dict:
    assert api.post(f"/api/v1/jobs/{job}/assign", headers=auth).status_code == 200
    done = api.post(f"/api/v1/jobs/{job}/complete", json={"result_cid": CID}, headers=auth)
    assert done.status_code == 200, done.text
    return done.json()


def take(api: httpx.Client, auth: dict[str, str]) -> dict | None:
    answer = api.post("/api/v1/verifications/claim-next", headers=auth)
    assert answer.status_code in (200, 204), answer.text
    return (
        None
        if answer.status_code == 204
        else VerificationTask.model_validate(answer.json()).model_dump(mode="json")
    )


def take_job(api: httpx.Client, auth: dict[str, str], job: int) -> dict:
    """Verification tasks in order until the one of `job` (earlier ones are decided)."""
    while (task := take(api, auth)) is not None:
        if task["job_id"] == job:
            return task
        api.post(
            f"/api/v1/verifications/{task['verification_id']}/report",
            json={**REPORT, "verdict": "verified"},
            headers=auth,
        )
    raise AssertionError(f"no verification of job {job} offered")


def test_a_verifier_account_logs_in_with_the_verifier_role(api: httpx.Client, chain: Driver):
    assert "verifier" in sign_in(api, chain.accounts[8])["roles"]
    assert "verifier" not in sign_in(api, chain.accounts[4])["roles"]


def test_a_delivery_is_verified_before_it_counts(
    api: httpx.Client, warehouse: sa.Engine, open_jobs: Iterator[int], verifier
):
    _, worker = seeded(warehouse)
    job = next(open_jobs)
    delivered = JobDetail.model_validate(deliver(api, job, worker))
    assert delivered.claim.state == "completed" and delivered.status == "completed"
    opened = JobDetail.model_validate(api.get(f"/api/v1/jobs/{job}").json()).verification
    assert opened.state == "open" and opened.source == "delivery" and opened.result_cid == CID
    assert len(opened.windows) == 6 and len(set(opened.seeds)) == 2  # 12: the verifier places 6
    assert all(w.fits(1920, 1080) for w in opened.windows)  # the job's default resolution
    assert "verifier" in error(api.post("/api/v1/verifications/claim-next", headers=worker), 403)

    task = take_job(api, verifier, job)
    assert task["asset_cid"] and task["render_settings"]["resolution_x"] == 1920
    assert task["windows"] == [w.model_dump() for w in opened.windows]
    assert api.get(f"/api/v1/jobs/{job}").json()["claim"]["state"] == "verifying"
    other = bearer(token_for(warehouse, normalize_address(0xF00E), ("worker", "verifier")))
    vid = task["verification_id"]
    stolen = api.post(
        f"/api/v1/verifications/{vid}/report", json={**REPORT, "verdict": "verified"}, headers=other
    )
    assert "another verifier" in error(stolen, 409)

    decided = api.post(
        f"/api/v1/verifications/{vid}/report",
        json={**REPORT, "verdict": "verified"},
        headers=verifier,
    )
    assert decided.status_code == 200, decided.text
    assert Verification.model_validate(decided.json()).report.cpu_seconds == 5.5
    after = api.get(f"/api/v1/jobs/{job}").json()
    assert after["claim"]["state"] == "verified" and after["verification"]["state"] == "verified"
    assert api.get(f"/api/v1/verifications/{vid}").json() == after["verification"]
    assert "not found" in error(api.get("/api/v1/verifications/999999999"), 404)
    assert "not found" in error(
        api.post("/api/v1/verifications/999999999/release", headers=verifier), 404
    )
    again = api.post(
        f"/api/v1/verifications/{vid}/report",
        json={**REPORT, "verdict": "rejected", "reasons": ["late"]},
        headers=verifier,
    )
    assert "verified" in error(again, 409)


def test_a_rejection_reopens_the_job_blocks_the_worker_and_counts_against_it(
    api: httpx.Client, warehouse: sa.Engine, open_jobs: Iterator[int], verifier
):
    _, worker = seeded(warehouse)
    for rejected in range(1, MAX_REJECTIONS + 1):
        job = next(open_jobs)
        deliver(api, job, worker)
        task = take_job(api, verifier, job)
        reasons = ["crop 3: 4.10× the noise an honest render has there"]
        answer = api.post(
            f"/api/v1/verifications/{task['verification_id']}/report",
            json={**REPORT, "verdict": "rejected", "reasons": reasons},
            headers=verifier,
        )
        assert answer.status_code == 200, answer.text
        after = api.get(f"/api/v1/jobs/{job}").json()
        assert after["status"] == "open" and after["claim"] is None
        assert after["verification"]["report"]["reasons"] == reasons
        attempts = api.get(f"/api/v1/jobs/{job}/attempts").json()["items"]
        assert attempts[0]["state"] == "rejected"  # newest first
        assert reasons[0] in attempts[0]["failure_reason"]
        refused = api.post(f"/api/v1/jobs/{job}/assign", headers=worker)
        if rejected < MAX_REJECTIONS:
            assert "rejected by verification" in error(refused, 403)
    offered = api.get("/api/v1/jobs/available", headers=worker).json()["worker"]
    assert offered["eligible"] is False and "rejected by verification" in offered["reason"]
    assert "rejected by verification" in error(
        api.post("/api/v1/jobs/claim-next", headers=worker), 403
    )


def test_a_lapsed_lease_hands_the_task_to_the_next_verifier(
    api: httpx.Client, warehouse: sa.Engine, open_jobs: Iterator[int], verifier
):
    _, worker = seeded(warehouse)
    job = next(open_jobs)
    deliver(api, job, worker)
    first = take_job(api, verifier, job)
    with warehouse.begin() as conn:  # the first verifier died: its lease runs out
        conn.execute(
            sa.text("UPDATE verifications SET lease_expires_at = now() WHERE id = :id"),
            {"id": first["verification_id"]},
        )
    other = bearer(token_for(warehouse, normalize_address(0xF00F), ("worker", "verifier")))
    second = take_job(api, other, job)
    assert second["verification_id"] == first["verification_id"]
    assert (second["windows"], second["seeds"]) == (first["windows"], first["seeds"])
    late = api.post(
        f"/api/v1/verifications/{first['verification_id']}/report",
        json={**REPORT, "verdict": "verified"},
        headers=verifier,
    )
    assert "another verifier" in error(late, 409)


def test_a_verifier_never_verifies_its_own_delivery(
    api: httpx.Client, warehouse: sa.Engine, open_jobs: Iterator[int]
):
    address, _ = seeded(warehouse)
    both = bearer(token_for(warehouse, address, ("worker", "verifier")))
    job = next(open_jobs)
    deliver(api, job, both)
    while (task := take(api, both)) is not None:
        assert task["job_id"] != job
        api.post(
            f"/api/v1/verifications/{task['verification_id']}/report",
            json={**REPORT, "verdict": "verified"},
            headers=both,
        )
    assert api.get(f"/api/v1/jobs/{job}").json()["verification"]["state"] == "open"


def test_verifiers_that_cannot_verify_give_it_back_until_it_is_rejected(
    api: httpx.Client, warehouse: sa.Engine, open_jobs: Iterator[int], verifier
):
    _, worker = seeded(warehouse)
    job = next(open_jobs)
    deliver(api, job, worker)
    for attempt in (1, 2):
        task = take_job(api, verifier, job)
        back = api.post(
            f"/api/v1/verifications/{task['verification_id']}/fail",
            json={"reason": "Blender could not render the file"},
            headers=verifier,
        )
        assert back.status_code == 200, back.text
        assert back.json()["failures"] == attempt
    final = api.get(f"/api/v1/jobs/{job}").json()["verification"]
    assert final["state"] == "rejected"
    assert "2 verifiers could not verify" in final["report"]["reasons"][0]
    bad = api.post(
        f"/api/v1/verifications/{final['verification_id']}/report",
        json={**REPORT, "verdict": "rejected"},
        headers=verifier,
    )
    assert bad.status_code == 422  # a rejection says why


def test_results_on_chain_without_a_verified_delivery_are_verified_too(
    api: httpx.Client,
    api_server: ApiServer,
    chain: Driver,
    warehouse: sa.Engine,
    open_jobs: Iterator[int],
    verifier,
):
    """A bypass (`submit_result` straight on chain) and a front-run (a second account
    submits while the holder's delivery is being verified): each on-chain CID is verified
    (verifiers hear of it as ingestion opens it), and the front-run worker is named."""
    bypassed, raced = next(open_jobs), next(open_jobs)
    eligible = [
        a
        for a in chain.accounts[4:10]
        if chain.view(chain.registry, "is_worker_eligible", a.address, raced)
    ]
    bypassing, front_runner, honest = eligible[:3]
    deliver(api, raced, bearer(sign_in(api, honest)))
    for account, job in ((bypassing, bypassed), (front_runner, raced)):
        chain.send(account, chain.reg("submit_result", job, *cid_to_felts(OTHER_CID)))
    client = live(api_server.url)
    with client.ws:
        client.subscribe("verifications:available")
        ingestor(warehouse, chain).tick(60, until_caught_up=True)
        heard = {client.next()["data"]["job_id"] for _ in "12"}
    assert heard == {bypassed, raced}

    for account, job in ((bypassing, bypassed), (front_runner, raced)):
        found = api.get(f"/api/v1/jobs/{job}").json()["verification"]
        assert found["source"] == "chain" and found["state"] == "open", found
        assert found["worker_address"] == normalize_address(account.address)
        assert found["result_cid"] == OTHER_CID and found["attempt"] is None
        assert len(found["windows"]) == 6  # and 6 placed by the verifier
    assert api.get(f"/api/v1/jobs/{bypassed}").json()["verification"]["front_ran"] is None
    raced_chain = api.get(f"/api/v1/jobs/{raced}").json()["verification"]
    assert raced_chain["front_ran"] == normalize_address(honest.address)
    task = take_job(api, verifier, bypassed)
    assert task["result_cid"] == OTHER_CID and task["source"] == "chain"
    ingestor(warehouse, chain).tick(60, until_caught_up=True)  # seen again: not opened twice
    with warehouse.connect() as conn:
        opened = conn.execute(
            sa.text("SELECT count(*) FROM verifications WHERE job_id = :j AND source = 'chain'"),
            {"j": bypassed},
        ).scalar()
    assert opened == 1


@pytest.mark.parametrize("verdict", ["verified", "rejected"])
def test_job_subscribers_follow_the_verification_to_its_verdict(
    api: httpx.Client,
    api_server: ApiServer,
    warehouse: sa.Engine,
    open_jobs: Iterator[int],
    verifier,
    verdict: str,
):
    """Each step's document is the one `GET /jobs/{id}` serves, verification included."""
    _, worker = seeded(warehouse)
    job = next(open_jobs)
    client = live(api_server.url)
    seen: list[tuple[str | None, str | None]] = []

    def step(state: str) -> dict:  # the job's messages until its verification is `state`
        while not seen or seen[-1][1] != state:
            data = client.wait_for(lambda m: m["type"] == "job")["data"]
            document = JobDetail.model_validate(data)
            claim, found = document.claim, document.verification
            states = (claim and claim.state, found and found.state)
            if not seen or seen[-1] != states:  # a document is the job as it is when sent:
                seen.append(states)  # two notifications may both show the latest step
        return data

    with client.ws:
        client.subscribe(f"job:{job}")
        deliver(api, job, worker)
        step("open")
        task = take_job(api, verifier, job)
        step("claimed")
        reasons = ["crop 1: shifted"] if verdict == "rejected" else []
        api.post(
            f"/api/v1/verifications/{task['verification_id']}/report",
            json={**REPORT, "verdict": verdict, "reasons": reasons},
            headers=verifier,
        ).raise_for_status()
        assert step(verdict) == api.get(f"/api/v1/jobs/{job}").json()
    delivered = [states for states in seen if states[1] is not None]
    settled = None if verdict == "rejected" else "verified"  # a rejected attempt is not live
    assert delivered == [("completed", "open"), ("verifying", "claimed"), (settled, verdict)]


def test_verifiers_hear_of_every_verification_offered(
    api: httpx.Client,
    api_server: ApiServer,
    warehouse: sa.Engine,
    open_jobs: Iterator[int],
    verifier,
):
    """Opened by a delivery, given back, released, and its verifier's lease lapsed: each
    time `verifications:available` says which job's verification is claimable."""
    _, worker = seeded(warehouse)
    job = next(open_jobs)
    offered = {"type": "available", "topic": "verifications:available", "data": {"job_id": job}}
    client = live(api_server.url)
    with client.ws:
        assert client.subscribe("verifications:available") is None
        deliver(api, job, worker)
        assert client.wait_for(lambda m: m["type"] == "available") == offered
        vid = take_job(api, verifier, job)["verification_id"]
        path = f"/api/v1/verifications/{vid}"
        back = api.post(f"{path}/fail", json={"reason": "IPFS is down"}, headers=verifier)
        assert back.status_code == 200, back.text
        assert client.wait_for(lambda m: m["data"] == {"job_id": job}) == offered
        take_job(api, verifier, job)
        assert api.post(f"{path}/release", headers=verifier).status_code == 200
        assert client.wait_for(lambda m: m["data"] == {"job_id": job}) == offered
        take_job(api, verifier, job)
        with warehouse.begin() as conn:  # the verifier died: its lease runs out
            conn.execute(
                sa.text("UPDATE verifications SET lease_expires_at = now() WHERE id = :id"),
                {"id": vid},
            )
        offer_lapsed(warehouse, None)  # what every API process's sweep does
        assert client.wait_for(lambda m: m["data"] == {"job_id": job}) == offered
