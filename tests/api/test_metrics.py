"""`/metrics` over real HTTP on a real warehouse and devchain: the queue, claims, lease
expiries, deliveries, verdicts and sanctions move as workers and verifiers act; ingestion
lag follows the chain; requests are counted by route template; a stopped part is
`veriframe_up 0` in a scrape that still answers."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from api.maintenance import sweep_once
from tests.api.protocol.test_verifications import CID, REPORT
from tests.support.api import ApiServer, api_settings, bearer, seeded, token_for
from tests.support.chain import Driver
from tests.support.warehouse import ingestor
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.processes import free_port
from veriframe_core.warehouse.engine import make_engine

VERIFIER = normalize_address(0xF00D)
ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "veriframe-alerts.yml"
Samples = dict[tuple[str, frozenset], float]
UNCOMPARED = ("veriframe_api_", "veriframe_verification_oldest_pending_seconds")


@pytest.fixture(scope="module")
def api_server(chain: Driver, warehouse: sa.Engine) -> Iterator[ApiServer]:
    server = ApiServer(api_settings(chain, api_verifier_addresses=[VERIFIER]), warehouse).start()
    yield server
    server.stop()


def scrape(api: httpx.Client) -> Samples:
    answer = api.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples) -> Counter:
    """How each warehouse figure changed between two scrapes (requests and ages left out)."""
    return Counter(
        {
            (name, tuple(sorted(labels))): after.get(key, 0) - before.get(key, 0)
            for key in {*before, *after}
            for name, labels in [key]
            if not name.startswith(UNCOMPARED) and after.get(key, 0) != before.get(key, 0)
        }
    )


def test_the_queue_claims_deliveries_and_verdicts_move_as_jobs_go_through(
    api: httpx.Client, warehouse: sa.Engine, open_jobs: Iterator[int]
) -> None:
    _, worker = seeded(warehouse)
    verifier = bearer(token_for(warehouse, VERIFIER, ("worker", "verifier")))
    job = next(open_jobs)
    start = scrape(api)
    assert value(start, "veriframe_up", part="database") == 1
    assert value(start, "veriframe_jobs", status="open") >= 1
    assert value(start, "veriframe_jobs_claimable") == value(start, "veriframe_jobs", status="open")

    assert api.post(f"/api/v1/jobs/{job}/assign", headers=worker).status_code == 200
    claimed = scrape(api)
    assert moved(start, claimed) == {
        ("veriframe_jobs", (("status", "open"),)): -1,
        ("veriframe_jobs", (("status", "assigned"),)): 1,
        ("veriframe_jobs_claimable", ()): -1,
        ("veriframe_attempts", (("state", "running"),)): 1,
        ("veriframe_claims_total", ()): 1,
    }

    done = api.post(f"/api/v1/jobs/{job}/complete", json={"result_cid": CID}, headers=worker)
    assert done.status_code == 200, done.text
    delivered = scrape(api)
    assert moved(claimed, delivered) == {
        ("veriframe_jobs", (("status", "assigned"),)): -1,
        ("veriframe_jobs", (("status", "completed"),)): 1,
        ("veriframe_attempts", (("state", "running"),)): -1,
        ("veriframe_attempts", (("state", "completed"),)): 1,
        ("veriframe_deliveries_total", ()): 1,
        ("veriframe_verifications_pending", (("state", "open"),)): 1,
    }
    assert value(delivered, "veriframe_verification_oldest_pending_seconds") >= 0

    task = api.post("/api/v1/verifications/claim-next", headers=verifier).json()
    assert task["job_id"] == job
    taken = scrape(api)
    assert value(taken, "veriframe_verifications_pending", state="claimed") == 1
    assert value(taken, "veriframe_verifications_pending", state="open") == 0

    report = {**REPORT, "verdict": "verified"}
    vid = task["verification_id"]
    assert api.post(f"/api/v1/verifications/{vid}/report", json=report, headers=verifier)
    verified = scrape(api)
    assert value(verified, "veriframe_verification_verdicts_total", **VERIFIED) == 1
    assert value(verified, "veriframe_verifications_pending", state="claimed") == 0
    assert value(verified, "veriframe_verification_oldest_pending_seconds") == 0
    assert value(verified, "veriframe_attempts", state="verified") == 1

    rejected_job = next(open_jobs)
    api.post(f"/api/v1/jobs/{rejected_job}/assign", headers=worker)
    api.post(f"/api/v1/jobs/{rejected_job}/complete", json={"result_cid": CID}, headers=worker)
    task = api.post("/api/v1/verifications/claim-next", headers=verifier).json()
    rejection = {**REPORT, "verdict": "rejected", "reasons": ["crop 3: 4.10× the noise"]}
    rejected = api.post(
        f"/api/v1/verifications/{task['verification_id']}/report", json=rejection, headers=verifier
    )
    assert rejected.status_code == 200, rejected.text
    with warehouse.begin() as conn:  # what the sanctions job records for the operator's action
        conn.execute(
            sa.text(
                "INSERT INTO sanctions (worker_address, verification_id, job_id, cause, action, "
                "outcome) SELECT worker_address, id, job_id, 'rejected deliveries', "
                "'verify_worker', 'sent' FROM verifications WHERE id = :id"
            ),
            {"id": task["verification_id"]},
        )
    after = scrape(api)
    assert value(after, "veriframe_verification_verdicts_total", **REJECTED) == 1
    assert value(after, "veriframe_attempts", state="rejected") == 1
    assert (
        value(after, "veriframe_deliveries_total") - value(start, "veriframe_deliveries_total") == 2
    )
    # the rejected job is open again; the verified one stays completed until submitted on chain
    opened = value(after, "veriframe_jobs", status="open")
    assert opened == value(start, "veriframe_jobs", status="open") - 1
    sanction = {"action": "verify_worker", "outcome": "sent"}
    assert value(after, "veriframe_sanctions_total", **sanction) == 1


VERIFIED = {"verdict": "verified", "source": "delivery"}
REJECTED = {"verdict": "rejected", "source": "delivery"}


def test_a_lapsed_lease_shows_until_swept_then_counts_as_an_expiry_and_a_release_does_not(
    api: httpx.Client, warehouse: sa.Engine, open_jobs: Iterator[int]
) -> None:
    job, released = next(open_jobs), next(open_jobs)
    _, worker = seeded(warehouse)
    for j in (job, released):
        assert api.post(f"/api/v1/jobs/{j}/assign", headers=worker).status_code == 200
    start = scrape(api)
    with warehouse.begin() as conn:  # the lease's minutes pass without a heartbeat
        conn.execute(
            sa.text(
                "UPDATE job_attempts SET lease_expires_at = now() - interval '1 second' "
                "WHERE job_id = :j AND state = 'running'"
            ),
            {"j": job},
        )
    lapsed = scrape(api)
    assert moved(start, lapsed) == {("veriframe_claims_lapsed", ()): 1}
    assert sweep_once(warehouse) == [job]
    swept = scrape(api)
    assert moved(lapsed, swept) == {
        ("veriframe_claims_lapsed", ()): -1,
        ("veriframe_lease_expiries_total", ()): 1,
        ("veriframe_attempts", (("state", "running"),)): -1,
        ("veriframe_attempts", (("state", "expired"),)): 1,
        ("veriframe_jobs", (("status", "assigned"),)): -1,
        ("veriframe_jobs", (("status", "open"),)): 1,
        ("veriframe_jobs_claimable", ()): 1,
    }
    given_back = api.post(
        f"/api/v1/jobs/{released}/release", json={"reason": "SIGTERM"}, headers=worker
    )
    assert given_back.status_code == 200, given_back.text
    after = scrape(api)
    assert value(after, "veriframe_attempts", state="released") == 1
    assert value(after, "veriframe_lease_expiries_total") == value(
        swept, "veriframe_lease_expiries_total"
    )


def test_ingestion_lag_follows_the_chain_in_blocks_and_seconds(
    api: httpx.Client, chain: Driver, warehouse: sa.Engine
) -> None:
    ingestor(warehouse, chain).tick(60, until_caught_up=True)
    current = scrape(api)
    assert value(current, "veriframe_ingestion_lag_blocks") == 0
    assert value(current, "veriframe_ingestion_lag_seconds") == 0
    head = value(current, "veriframe_chain_head_block")
    assert head == value(current, "veriframe_ingested_block") > 0

    chain.rpc("devchain_increaseTime", {"seconds": 600})
    chain.rpc("devchain_mine", {"count": 3})
    behind = scrape(api)
    assert value(behind, "veriframe_chain_head_block") == head + 3
    assert value(behind, "veriframe_ingested_block") == head
    assert value(behind, "veriframe_ingestion_lag_blocks") == 3
    assert value(behind, "veriframe_ingestion_lag_seconds") >= 600

    ingestor(warehouse, chain).tick(60, until_caught_up=True)
    assert value(scrape(api), "veriframe_ingestion_lag_blocks") == 0


def test_requests_are_counted_and_timed_by_route_template(api: httpx.Client, open_jobs) -> None:
    route = "/api/v1/jobs/{job_id}"
    before = scrape(api)
    job = next(open_jobs)
    for _ in range(2):
        assert api.get(f"/api/v1/jobs/{job}").status_code == 200
    assert api.get("/api/v1/jobs/999999999").status_code == 404
    assert api.get("/no/such/path/123").status_code == 404
    assert api.get("/health").status_code == 200
    after = scrape(api)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("veriframe_api_requests_total", method="GET", route=route, status="200") == 2
    assert grew("veriframe_api_requests_total", method="GET", route=route, status="404") == 1
    assert grew("veriframe_api_requests_total", method="GET", route="/health", status="200") == 1
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    assert grew("veriframe_api_requests_total", **unmatched) == 1
    assert grew("veriframe_api_request_duration_seconds_count", method="GET", route=route) == 3
    assert grew("veriframe_api_request_duration_seconds_sum", method="GET", route=route) > 0
    assert not any("/no/such" in str(labels) for _, labels in after)
    assert not any(name.endswith("_created") for name, _ in after)


def test_stopped_parts_are_reported_down_in_a_scrape_that_still_answers(
    chain: Driver, warehouse: sa.Engine
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    settings = api_settings(chain, starknet_rpc_url=closed, ipfs_api_url=closed)
    server = ApiServer(settings, warehouse).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as api:
            samples = scrape(api)
    finally:
        server.stop()
    assert value(samples, "veriframe_up", part="database") == 1
    assert value(samples, "veriframe_up", part="chain") == 0
    assert value(samples, "veriframe_up", part="ipfs") == 0
    assert value(samples, "veriframe_ingested_block") > 0
    assert ("veriframe_ingestion_lag_blocks", frozenset()) not in samples

    nowhere = make_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/veriframe")
    server = ApiServer(api_settings(chain), nowhere).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as api:
            samples = scrape(api)
    finally:
        server.stop()
        nowhere.dispose()
    assert value(samples, "veriframe_up", part="database") == 0
    assert value(samples, "veriframe_up", part="chain") == 1
    assert not any(name == "veriframe_jobs" for name, _ in samples)


def test_every_metric_the_example_alert_rules_use_is_served(api: httpx.Client) -> None:
    """Families with no sample yet (no sanction so far) count: their TYPE line is served."""
    named = set(re.findall(r"\b(veriframe_[a-z_]+)", ALERTS.read_text()))
    api.get("/health")  # a request measured before the scrape
    text = api.get("/metrics").text
    served = set(re.findall(r"^(?:# TYPE )?(veriframe_[a-z_]+)", text, re.MULTILINE))
    assert named and named <= served, named - served
