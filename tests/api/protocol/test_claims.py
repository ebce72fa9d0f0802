"""The worker protocol over real HTTP on a warehouse ingested from devchain: claims with one
winner, leases that lapse, the holder-only rules, blocking after failures, render settings."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa
from websockets.sync.client import connect

from api.maintenance import sweep_once
from tests.support.activity import Activity
from tests.support.api import (
    ApiServer,
    api_settings,
    bearer,
    error,
    seed_worker,
    seeded,
    sign_in,
    token_for,
)
from tests.support.chain import Driver
from tests.support.platform import eventually
from tests.support.warehouse import ingestor
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.protocol import AvailablePage, Claim, FailResult, Job, JobDetail

CID = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
OTHER_CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


def test_a_worker_logs_in_claims_heartbeats_and_completes(
    api: httpx.Client, chain: Driver, open_jobs: Iterator[int]
) -> None:
    worker = chain.accounts[4]
    auth = bearer(sign_in(api, worker))
    offered = api.get("/api/v1/jobs/available", params={"limit": 500}, headers=auth).json()
    assert offered["worker"]["eligible"] is True
    job = next(open_jobs)
    assert job in [j["job_id"] for j in offered["items"]]
    # the documents Postgres builds are the response models, value for value
    AvailablePage.model_validate(offered)
    listed = api.get("/api/v1/jobs", params={"limit": 500}).json()["items"]  # built in Python
    item = next(j for j in offered["items"] if j["job_id"] == job)
    assert Job.model_validate(item) == Job.model_validate(
        next(j for j in listed if j["job_id"] == job)
    )
    claimed = api.post(f"/api/v1/jobs/{job}/assign", headers=auth)
    assert claimed.status_code == 200, claimed.text
    JobDetail.model_validate(claimed.json())
    assert claimed.json() == api.get(f"/api/v1/jobs/{job}").json()
    claim = claimed.json()["claim"]
    assert claimed.json()["status"] == "assigned" and claim["state"] == "running"
    assert claim["worker_address"] == normalize_address(worker.address) and claim["attempt"] == 1
    again = api.post(f"/api/v1/jobs/{job}/assign", headers=auth)  # a retried claim
    assert again.status_code == 200 and again.json()["claim"]["attempt"] == 1
    beat = api.post(f"/api/v1/jobs/{job}/heartbeat", json={"progress": 0.5}, headers=auth)
    assert beat.status_code == 200 and beat.json()["progress"] == 0.5
    Claim.model_validate(beat.json())
    assert beat.json()["lease_expires_at"] >= claim["lease_expires_at"]
    assert job not in [
        j["job_id"]
        for j in api.get("/api/v1/jobs/available", params={"limit": 500}, headers=auth).json()[
            "items"
        ]
    ]
    body = {"result_cid": CID, "render_time_s": 12.5, "device": "CPU"}
    done = api.post(f"/api/v1/jobs/{job}/complete", json=body, headers=auth)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert done.json()["claim"]["result_cid"] == CID and done.json()["claim"]["progress"] == 1
    retried = api.post(f"/api/v1/jobs/{job}/complete", json=body, headers=auth)
    assert retried.status_code == 200 and retried.json()["claim"] == done.json()["claim"]
    other = api.post(f"/api/v1/jobs/{job}/complete", json={"result_cid": OTHER_CID}, headers=auth)
    assert CID in error(other, 409)
    attempts = api.get(f"/api/v1/jobs/{job}/attempts").json()["items"]
    assert [a["state"] for a in attempts] == ["completed"]


def test_only_the_holder_may_heartbeat_complete_or_fail(
    api: httpx.Client, warehouse: sa.Engine, open_jobs: Iterator[int]
) -> None:
    job = next(open_jobs)
    _, holder = seeded(warehouse)
    _, stranger = seeded(warehouse)
    assert api.post(f"/api/v1/jobs/{job}/assign", headers=holder).status_code == 200
    for action, body in (
        ("heartbeat", {"progress": 0.1}),
        ("complete", {"result_cid": CID}),
        ("fail", {"reason": "no"}),
        ("release", {"reason": "no"}),
    ):
        assert "not claimed by" in error(
            api.post(f"/api/v1/jobs/{job}/{action}", json=body, headers=stranger), 403
        )
        error(api.post(f"/api/v1/jobs/{job}/{action}", json=body), 401)
    assert "is assigned, not open" in error(
        api.post(f"/api/v1/jobs/{job}/assign", headers=stranger), 409
    )
    creator = bearer(token_for(warehouse, seed_worker(warehouse), ("creator",)))
    assert "worker role" in error(api.post(f"/api/v1/jobs/{job}/assign", headers=creator), 403)
    assert error(api.post("/api/v1/jobs/999999/assign", headers=holder), 404)


def test_ineligible_workers_cannot_claim(
    api: httpx.Client, chain: Driver, warehouse: sa.Engine, open_jobs: Iterator[int]
) -> None:
    job = next(open_jobs)
    unverified = bearer(sign_in(api, chain.accounts[9]))  # registered, never verified
    offered = api.get("/api/v1/jobs/available", headers=unverified).json()
    assert offered["items"] == [] and offered["worker"]["eligible"] is False
    assert "not verified" in offered["worker"]["reason"]
    assert "not verified" in error(api.post(f"/api/v1/jobs/{job}/assign", headers=unverified), 403)
    stranger = bearer(sign_in(api, chain.accounts[12]))  # never registered on chain
    assert "not registered" in error(api.post(f"/api/v1/jobs/{job}/assign", headers=stranger), 403)
    address, failing = seeded(warehouse)
    with warehouse.begin() as conn:  # 3 of 8 jobs failed: 37 % > 30 %
        conn.execute(
            sa.text("UPDATE workers SET jobs_completed = 5, jobs_failed = 3 WHERE address = :a"),
            {"a": address},
        )
    assert "failure rate" in error(api.post(f"/api/v1/jobs/{job}/assign", headers=failing), 403)


def test_reputation_below_the_job_minimum_cannot_claim(
    api: httpx.Client, warehouse: sa.Engine
) -> None:
    with warehouse.connect() as conn:
        demanding = conn.execute(
            sa.text(
                "SELECT job_id FROM jobs WHERE status = 'open' AND min_reputation = 600 "
                "AND deadline > now() LIMIT 1"
            )
        ).scalar_one()
    _, modest = seeded(warehouse, reputation=450)
    offered = api.get("/api/v1/jobs/available", params={"limit": 500}, headers=modest).json()
    assert offered["worker"]["eligible"] and int(demanding) not in [
        j["job_id"] for j in offered["items"]
    ]
    assert "below the job's minimum 600" in error(
        api.post(f"/api/v1/jobs/{demanding}/assign", headers=modest), 403
    )


def test_a_worker_is_blocked_from_a_job_after_three_failures(
    api: httpx.Client, warehouse: sa.Engine, open_jobs: Iterator[int]
) -> None:
    job = next(open_jobs)
    _, auth = seeded(warehouse)
    for n in (1, 2, 3):
        assert api.post(f"/api/v1/jobs/{job}/assign", headers=auth).status_code == 200
        failed = api.post(
            f"/api/v1/jobs/{job}/fail", json={"reason": f"GPU crash {n}"}, headers=auth
        )
        assert failed.status_code == 200, failed.text
        FailResult.model_validate(failed.json())
        assert failed.json()["failures"] == n and failed.json()["blocked"] is (n == 3)
        assert failed.json()["claim"]["failure_reason"] == f"GPU crash {n}"
        assert api.get(f"/api/v1/jobs/{job}").json()["status"] == "open"
    assert "blocked" in error(api.post(f"/api/v1/jobs/{job}/assign", headers=auth), 403)
    offered = api.get("/api/v1/jobs/available", params={"limit": 500}, headers=auth).json()
    assert job not in [j["job_id"] for j in offered["items"]]
    _, fresh = seeded(warehouse)  # others may still take it
    assert api.post(f"/api/v1/jobs/{job}/assign", headers=fresh).status_code == 200
    attempts = api.get(f"/api/v1/jobs/{job}/attempts").json()["items"]
    assert [a["attempt"] for a in attempts] == [4, 3, 2, 1]


def test_a_released_claim_reopens_the_job_at_once_and_is_not_a_failure(
    api: httpx.Client, warehouse: sa.Engine, open_jobs: Iterator[int]
) -> None:
    job = next(open_jobs)
    _, auth = seeded(warehouse)
    assert api.get("/api/v1/jobs/claimed", headers=auth).json() == []
    for n in (1, 2, 3, 4):  # more releases than failures block a worker after
        assert api.post(f"/api/v1/jobs/{job}/assign", headers=auth).status_code == 200
        (held,) = api.get("/api/v1/jobs/claimed", headers=auth).json()
        assert (held["job_id"], held["attempt"], held["state"]) == (job, n, "running")
        released = api.post(f"/api/v1/jobs/{job}/release", json={"reason": "SIGTERM"}, headers=auth)
        assert released.status_code == 200, released.text
        Claim.model_validate(released.json())
        assert released.json()["state"] == "expired"
        assert released.json()["failure_reason"] == "released: SIGTERM"
        detail = api.get(f"/api/v1/jobs/{job}").json()
        assert detail["status"] == "open" and detail["claim"] is None
        assert api.get("/api/v1/jobs/claimed", headers=auth).json() == []
    again = api.post(f"/api/v1/jobs/{job}/release", json={"reason": "twice"}, headers=auth)
    assert "expired" in error(again, 409)
    assert error(api.post(f"/api/v1/jobs/{job}/release", json={}, headers=auth), 422)
    error(api.get("/api/v1/jobs/claimed"), 401)


def decide(api: httpx.Client, warehouse: sa.Engine, job: int) -> None:
    """The job's verification taken and passed by a verifier (earlier ones passed too)."""
    auth = bearer(token_for(warehouse, normalize_address(0xDEC1DE), ("worker", "verifier")))
    report = {
        "verdict": "verified",
        "crops": [],
        "noise_ratio": 1,
        "noise_z": 0,
        "noise_level": 1,
        "seconds": 1,
        "cpu_seconds": 1,
        "device": "CPU",
        "blender_version": "5.0.1",
    }
    while True:
        task = api.post("/api/v1/verifications/claim-next", headers=auth).json()
        path = f"/api/v1/verifications/{task['verification_id']}/report"
        assert api.post(path, json=report, headers=auth).status_code == 200
        if task["job_id"] == job:
            return


def test_attempts_are_numbered_for_recording_when_they_end_never_at_the_claim(
    api: httpx.Client, warehouse: sa.Engine, open_jobs: Iterator[int]
) -> None:
    """`recordable_seq` is what the render sensor follows: a claim gets none, and every end
    (a delivery once its verification decided it, a failure, a release, a lapsed lease)
    gets the next number as it commits."""
    jobs = [next(open_jobs) for _ in range(4)]
    delivered, failed, released, lapsed = jobs
    _, auth = seeded(warehouse)

    def numbers(job: int) -> list[int | None]:
        with warehouse.connect() as conn:
            return list(
                conn.execute(
                    sa.text(
                        "SELECT recordable_seq FROM job_attempts WHERE job_id = :j ORDER BY id"
                    ),
                    {"j": job},
                ).scalars()
            )

    ends = {
        delivered: ("complete", {"result_cid": CID}),
        failed: ("fail", {"reason": "GPU crash"}),
        released: ("release", {"reason": "SIGTERM"}),
    }
    for job, (verb, body) in ends.items():
        assert api.post(f"/api/v1/jobs/{job}/assign", headers=auth).status_code == 200
        assert numbers(job) == [None]  # only claimed: nothing to record
        answer = api.post(f"/api/v1/jobs/{job}/{verb}", json=body, headers=auth)
        assert answer.status_code == 200, answer.text
        if verb == "complete":
            assert numbers(job) == [None]  # delivered, not decided yet
            decide(api, warehouse, job)
    assert api.post(f"/api/v1/jobs/{lapsed}/assign", headers=auth).status_code == 200
    with warehouse.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE job_attempts SET lease_expires_at = now() - interval '1 second' "
                "WHERE job_id = :j AND state = 'running'"
            ),
            {"j": lapsed},
        )
    assert sweep_once(warehouse) == [lapsed]
    numbered = [n for job in jobs for n in numbers(job)]
    assert None not in numbered and numbered == sorted(set(numbered))  # in the order of ends


def test_a_hundred_concurrent_claims_have_exactly_one_winner(
    api_server: ApiServer, warehouse: sa.Engine, open_jobs: Iterator[int]
) -> None:
    job = next(open_jobs)
    workers = [seeded(warehouse) for _ in range(100)]

    def claim(auth: dict[str, str]) -> int:
        with httpx.Client(base_url=api_server.url, timeout=60) as client:
            return client.post(f"/api/v1/jobs/{job}/assign", headers=auth).status_code

    with ThreadPoolExecutor(100) as pool:
        statuses = list(pool.map(claim, [auth for _, auth in workers]))
    assert sorted(statuses) == [200] + [409] * 99
    with warehouse.connect() as conn:
        live = conn.execute(
            sa.text("SELECT count(*) FROM job_attempts WHERE job_id = :j AND state = 'running'"),
            {"j": job},
        ).scalar_one()
    assert live == 1


def test_an_expired_lease_reopens_the_job_by_itself(
    chain: Driver, warehouse: sa.Engine, open_jobs: Iterator[int]
) -> None:
    server = ApiServer(api_settings(chain, api_lease_sweep_s=0.2), warehouse).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as api:
            job = next(open_jobs)
            _, holder = seeded(warehouse)
            assert api.post(f"/api/v1/jobs/{job}/assign", headers=holder).status_code == 200
            with warehouse.begin() as conn:  # the lease's two minutes pass without a heartbeat
                conn.execute(
                    sa.text(
                        "UPDATE job_attempts SET lease_expires_at = now() - interval '1 second' "
                        "WHERE job_id = :j AND state = 'running'"
                    ),
                    {"j": job},
                )
            deadline = time.monotonic() + 10
            while api.get(f"/api/v1/jobs/{job}").json()["status"] != "open":
                assert time.monotonic() < deadline, "the lease sweep did not reopen the job"
                time.sleep(0.1)
            beat = api.post(f"/api/v1/jobs/{job}/heartbeat", json={"progress": 0.9}, headers=holder)
            assert "expired" in error(beat, 409)
            _, next_worker = seeded(warehouse)
            retaken = api.post(f"/api/v1/jobs/{job}/assign", headers=next_worker)
            assert retaken.status_code == 200 and retaken.json()["claim"]["attempt"] == 2
            states = [a["state"] for a in api.get(f"/api/v1/jobs/{job}/attempts").json()["items"]]
            assert states == ["running", "expired"]
    finally:
        server.stop()


def test_a_worker_holds_a_bounded_number_of_claims(
    api: httpx.Client, warehouse: sa.Engine, open_jobs: Iterator[int]
) -> None:
    _, auth = seeded(warehouse)
    for _ in range(4):  # VERIFRAME_API_MAX_ACTIVE_CLAIMS
        assert api.post(f"/api/v1/jobs/{next(open_jobs)}/assign", headers=auth).status_code == 200
    assert "at most 4" in error(
        api.post(f"/api/v1/jobs/{next(open_jobs)}/assign", headers=auth), 409
    )


def test_invalid_results_are_422_and_change_nothing(
    api: httpx.Client, warehouse: sa.Engine, open_jobs: Iterator[int]
) -> None:
    job = next(open_jobs)
    _, auth = seeded(warehouse)
    assert api.post(f"/api/v1/jobs/{job}/assign", headers=auth).status_code == 200
    for cid in ("", "not-a-cid", "Qm" + "0" * 44, "b" + "A" * 58, CID + "x" * 20):
        error(api.post(f"/api/v1/jobs/{job}/complete", json={"result_cid": cid}, headers=auth), 422)
    error(api.post(f"/api/v1/jobs/{job}/heartbeat", json={"progress": 1.5}, headers=auth), 422)
    for reason in ("", "x" * 501, "nul \x00 inside"):
        error(api.post(f"/api/v1/jobs/{job}/fail", json={"reason": reason}, headers=auth), 422)
    nul_metadata = {"result_cid": CID, "metadata": {"log": ["ok", "\x00"]}}
    error(api.post(f"/api/v1/jobs/{job}/complete", json=nul_metadata, headers=auth), 422)
    detail = api.get(f"/api/v1/jobs/{job}").json()
    assert detail["status"] == "assigned" and detail["claim"]["state"] == "running"


def test_the_creator_attaches_render_settings_that_filter_workers(
    api: httpx.Client, chain: Driver, warehouse: sa.Engine, open_jobs: Iterator[int]
) -> None:
    job = next(open_jobs)
    settings = {
        "job_id": job,
        "frame": 12,
        "resolution_x": 640,
        "resolution_y": 360,
        "samples": 16,
        "output_format": "JPEG",
        "required_capabilities": {"devices": ["OPTIX", "CUDA"], "min_vram_mb": 8000},
    }
    creator = bearer(sign_in(api, chain.accounts[2], "authenticate"))
    someone_else = bearer(sign_in(api, chain.accounts[3], "authenticate"))
    assert "only the creator" in error(
        api.post("/api/v1/jobs", json=settings, headers=someone_else), 403
    )
    assert "not indexed yet" in error(
        api.post("/api/v1/jobs", json={**settings, "job_id": 10**9}, headers=creator), 404
    )
    error(api.post("/api/v1/jobs", json={**settings, "engine": "POVRAY"}, headers=creator), 422)
    webp = api.post("/api/v1/jobs", json={**settings, "output_format": "WEBP"}, headers=creator)
    assert webp.status_code == 422
    (field,) = webp.json()["error"]["details"]
    assert (
        field["location"] == ["body", "output_format"] and "OPEN_EXR_MULTILAYER" in field["message"]
    )
    saved = api.post("/api/v1/jobs", json=settings, headers=creator)
    assert saved.status_code == 200, saved.text
    rs = saved.json()["render_settings"]
    assert rs["custom"] and rs["frame"] == 12 and rs["output_format"] == "JPEG"
    assert rs["required_capabilities"]["devices"] == ["OPTIX", "CUDA"]

    address, worker = seeded(warehouse)  # no capabilities declared yet

    def offered() -> list[int]:
        page = api.get("/api/v1/jobs/available", params={"limit": 500}, headers=worker).json()
        return [j["job_id"] for j in page["items"]]

    assert job not in offered()
    assert "capabilities" in error(api.post(f"/api/v1/jobs/{job}/assign", headers=worker), 403)
    small = {"capabilities": {"devices": ["CUDA"], "vram_mb": 4096, "os": "linux"}}
    assert api.put(f"/api/v1/workers/{address}", json=small, headers=worker).status_code == 200
    assert job not in offered()
    big = {"capabilities": {"gpu_model": "RTX 4090", "devices": ["CUDA"], "vram_mb": 24576}}
    profile = api.post("/api/v1/workers/register", json=big, headers=worker)
    assert profile.status_code == 200 and profile.json()["capabilities"]["vram_mb"] == 24576
    assert job in offered()
    assert api.post(f"/api/v1/jobs/{job}/assign", headers=worker).status_code == 200
    assert "settings are fixed" in error(
        api.post("/api/v1/jobs", json=settings, headers=creator), 409
    )
    _, other = seeded(warehouse)
    assert "may not change" in error(
        api.put(f"/api/v1/workers/{address}", json=big, headers=other), 403
    )


def test_a_new_job_waits_for_its_creators_settings_then_is_offered(
    chain: Driver, warehouse: sa.Engine, open_jobs: Iterator[int]
) -> None:
    """With a grace (in service 15 s), a job just indexed is held back until its creator
    attaches the render settings, or the grace passes and it goes with the defaults."""
    server = ApiServer(api_settings(chain, api_settings_grace_s=60), warehouse).start()
    held, waited = Activity(chain).create_jobs(chain.accounts[2], 2, ttl=10**6)
    ingestor(warehouse, chain).tick(60, until_caught_up=True)
    try:
        with httpx.Client(base_url=server.url) as client:
            _, worker = seeded(warehouse)

            def offered() -> list[int]:
                page = client.get("/api/v1/jobs/available", params={"limit": 500}, headers=worker)
                return [j["job_id"] for j in page.json()["items"]]

            assert held not in offered() and waited not in offered()
            refused = client.post(f"/api/v1/jobs/{held}/assign", headers=worker)
            assert "waits for its creator's render settings" in error(refused, 409)
            creator = bearer(sign_in(client, chain.accounts[2], "authenticate"))
            body = {"job_id": held, "resolution_x": 64, "resolution_y": 48}
            assert client.post("/api/v1/jobs", json=body, headers=creator).status_code == 200
            # offered as soon as the change notification refreshes the page: well before 60 s
            assert eventually(lambda: held in offered(), timeout=20)
            assert waited not in offered()
            with warehouse.begin() as conn:  # the grace passes (its clock is the database's)
                conn.execute(
                    sa.text(
                        "UPDATE jobs SET indexed_at = now() - interval '61 seconds' "
                        "WHERE job_id = :j"
                    ),
                    {"j": waited},
                )
            # claimable with the defaults (the offer page refreshes on its own schedule)
            assert client.post(f"/api/v1/jobs/{waited}/assign", headers=worker).status_code == 200
    finally:
        server.stop()


def test_a_websocket_subscriber_sees_open_assigned_completed(
    api_server: ApiServer, api: httpx.Client, warehouse: sa.Engine, open_jobs: Iterator[int]
) -> None:
    job = next(open_jobs)
    _, auth = seeded(warehouse)
    with connect(f"ws://127.0.0.1:{api_server.port}/api/v1/ws", open_timeout=10) as ws:
        ws.send(json.dumps({"action": "subscribe", "topic": f"job:{job}"}))
        subscribed = json.loads(ws.recv(timeout=10))
        assert subscribed["type"] == "subscribed" and subscribed["data"]["status"] == "open"
        assert api.post(f"/api/v1/jobs/{job}/assign", headers=auth).status_code == 200
        body = {"result_cid": CID}
        assert api.post(f"/api/v1/jobs/{job}/complete", json=body, headers=auth).status_code == 200
        seen = ["open"]
        while seen[-1] != "completed":
            message = json.loads(ws.recv(timeout=10))
            assert message["type"] == "job" and message["topic"] == f"job:{job}"
            if message["data"]["status"] != seen[-1]:
                seen.append(message["data"]["status"])
        assert seen == ["open", "assigned", "completed"]


# ------------------------------------------------ claim-next: the server picks the job
@pytest.fixture(scope="module")
def more_jobs(chain: Driver, warehouse: sa.Engine) -> None:
    """Enough open jobs for the claim-next tests, which take the best-paid ones (so they run
    last in this module: the tests above claim jobs by id)."""
    activity = Activity(chain)
    activity.jobs_made = 200
    activity.create_jobs(chain.accounts[2], 30, ttl=10**6)
    ingestor(warehouse, chain).tick(60, until_caught_up=True)


def running_holders(engine: sa.Engine) -> dict[int, list[str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT job_id, worker_address FROM job_attempts WHERE state = 'running'")
        ).all()
    holders: dict[int, list[str]] = {}
    for job, worker in rows:
        holders.setdefault(int(job), []).append(worker)
    return holders


def test_claim_next_takes_the_first_available_job(
    api: httpx.Client, warehouse: sa.Engine, more_jobs: None
) -> None:
    address, auth = seeded(warehouse)
    first = api.get("/api/v1/jobs/available", headers=auth).json()["items"][0]
    claimed = api.post("/api/v1/jobs/claim-next", headers=auth)
    assert claimed.status_code == 200, claimed.text
    detail = JobDetail.model_validate(claimed.json())
    assert detail.job_id == first["job_id"] and detail.status == "assigned"
    assert detail.claim is not None and detail.claim.worker_address == address
    assert detail.claim.state == "running" and detail.claim.attempt == 1
    # the claim's document is built from the claim's own new rows: the same as a read after
    assert claimed.json() == api.get(f"/api/v1/jobs/{detail.job_id}").json()
    beat = api.post(f"/api/v1/jobs/{detail.job_id}/heartbeat", json={"progress": 0.2}, headers=auth)
    assert beat.status_code == 200, beat.text
    following = api.get("/api/v1/jobs/available", headers=auth).json()["items"]
    assert detail.job_id not in [j["job_id"] for j in following]


def test_concurrent_claim_next_hands_every_worker_a_different_job(
    api_server: ApiServer, warehouse: sa.Engine, more_jobs: None
) -> None:
    workers = [seeded(warehouse) for _ in range(12)]

    def claim_next(auth: dict[str, str]) -> httpx.Response:
        with httpx.Client(base_url=api_server.url, timeout=60) as client:
            return client.post("/api/v1/jobs/claim-next", headers=auth)

    with ThreadPoolExecutor(len(workers)) as pool:
        answers = list(pool.map(claim_next, [auth for _, auth in workers]))
    assert [a.status_code for a in answers] == [200] * len(workers), [a.text for a in answers]
    jobs = [a.json()["job_id"] for a in answers]
    assert len(set(jobs)) == len(workers)
    holders = running_holders(warehouse)
    assert all(len(h) == 1 for h in holders.values())
    for (address, _), job in zip(workers, jobs, strict=True):
        assert holders[job] == [address]


def test_claim_next_refusals_and_nothing_to_claim(
    api: httpx.Client, chain: Driver, warehouse: sa.Engine, more_jobs: None
) -> None:
    before = running_holders(warehouse)
    unverified = bearer(sign_in(api, chain.accounts[9]))  # registered, never verified
    assert "not verified" in error(api.post("/api/v1/jobs/claim-next", headers=unverified), 403)
    _, modest = seeded(warehouse, reputation=300)  # every job asks at least 400
    nothing = api.post("/api/v1/jobs/claim-next", headers=modest)
    assert nothing.status_code == 204 and nothing.content == b""
    creator = bearer(token_for(warehouse, seed_worker(warehouse), ("creator",)))
    assert "worker role" in error(api.post("/api/v1/jobs/claim-next", headers=creator), 403)
    error(api.post("/api/v1/jobs/claim-next"), 401)
    assert running_holders(warehouse) == before
    _, busy = seeded(warehouse)
    for _ in range(4):  # VERIFRAME_API_MAX_ACTIVE_CLAIMS
        assert api.post("/api/v1/jobs/claim-next", headers=busy).status_code == 200
    assert "at most 4" in error(api.post("/api/v1/jobs/claim-next", headers=busy), 409)


def test_after_logout_a_worker_can_neither_claim_nor_report(
    api: httpx.Client, chain: Driver, more_jobs: None
) -> None:
    tokens = sign_in(api, chain.accounts[4])
    auth = bearer(tokens)
    job = api.post("/api/v1/jobs/claim-next", headers=auth).json()["job_id"]
    assert api.post("/api/v1/auth/logout", headers=auth).status_code == 200
    for path, body in (
        ("claim-next", None),
        (f"{job}/assign", None),
        (f"{job}/heartbeat", {"progress": 0.5}),
        (f"{job}/complete", {"result_cid": CID}),
        (f"{job}/fail", {"reason": "gone"}),
    ):
        answer = api.post(f"/api/v1/jobs/{path}", json=body, headers=auth)
        assert "session ended" in error(answer, 401)
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert api.get(f"/api/v1/jobs/{job}").json()["claim"]["state"] == "running"


def test_concurrent_claims_of_one_worker_never_pass_the_cap(
    api: httpx.Client, api_server: ApiServer, warehouse: sa.Engine, more_jobs: None
) -> None:
    for by_id in (False, True):
        address, auth = seeded(warehouse)
        offered = api.get("/api/v1/jobs/available", params={"limit": 10}, headers=auth).json()
        paths = [f"{j['job_id']}/assign" if by_id else "claim-next" for j in offered["items"]]
        assert len(paths) == 10

        def claim(path: str, auth: dict[str, str] = auth) -> int:
            with httpx.Client(base_url=api_server.url, timeout=60) as client:
                return client.post(f"/api/v1/jobs/{path}", headers=auth).status_code

        with ThreadPoolExecutor(len(paths)) as pool:
            statuses = sorted(pool.map(claim, paths))
        assert statuses == [200] * 4 + [409] * 6  # VERIFRAME_API_MAX_ACTIVE_CLAIMS
        assert sum(holders == [address] for holders in running_holders(warehouse).values()) == 4
