"""Reading workers, jobs and events over real HTTP: filters, paging, exact numbers, errors."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from tests.support.chain import Driver
from veriframe_core.chain.addresses import normalize_address


def rows(engine: sa.Engine, sql: str, **params) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def test_workers_best_first_with_filters_and_paging(api: httpx.Client, warehouse) -> None:
    stored = rows(warehouse, "SELECT address, reputation, verified FROM workers")
    everyone = api.get("/api/v1/workers", params={"limit": 500}).json()
    assert everyone["next_offset"] is None
    assert [w["address"] for w in everyone["items"]] == [
        w["address"] for w in sorted(stored, key=lambda w: (-w["reputation"], w["address"]))
    ]
    verified = api.get("/api/v1/workers", params={"verified": True}).json()["items"]
    assert {w["address"] for w in verified} == {w["address"] for w in stored if w["verified"]}
    top = max(w["reputation"] for w in stored)
    best = api.get("/api/v1/workers", params={"min_reputation": top}).json()["items"]
    assert best and all(w["reputation"] == top for w in best)
    first = api.get("/api/v1/workers", params={"limit": 2}).json()
    second = api.get("/api/v1/workers", params={"limit": 2, "offset": 2}).json()
    assert first["next_offset"] == 2
    assert first["items"] + second["items"] == everyone["items"][:4]


def test_one_worker_by_any_address_form(api: httpx.Client, warehouse) -> None:
    (worker,) = rows(warehouse, "SELECT * FROM workers ORDER BY reputation DESC LIMIT 1")
    number = int(worker["address"], 16)
    for form in (worker["address"], hex(number), str(number)):
        body = api.get(f"/api/v1/workers/{form}").json()
        assert body["address"] == worker["address"]
        assert body["reputation"] == worker["reputation"]
        assert body["total_earnings"] == str(worker["total_earnings"])  # exact, as text
    history = api.get(f"/api/v1/workers/{worker['address']}/reputation-history").json()["items"]
    stored = rows(
        warehouse,
        "SELECT new_reputation FROM reputation_history WHERE worker_address = :a "
        "ORDER BY block_number DESC, transaction_index DESC, event_index DESC",
        a=worker["address"],
    )
    assert [h["new_reputation"] for h in history] == [h["new_reputation"] for h in stored]
    assert history[0]["new_reputation"] == worker["reputation"]


def test_worker_stats_match_the_table(api: httpx.Client, warehouse) -> None:
    stats = api.get("/api/v1/workers/stats/overview").json()
    (expected,) = rows(
        warehouse,
        "SELECT count(*) AS workers, count(*) FILTER (WHERE verified) AS verified, "
        "sum(jobs_completed) AS jobs_completed FROM workers",
    )
    assert {k: stats[k] for k in expected} == expected


def test_jobs_filters_exact_rewards_and_timeline(
    api: httpx.Client, warehouse, chain: Driver
) -> None:
    stored = rows(warehouse, "SELECT * FROM jobs ORDER BY job_id DESC")
    listed = api.get("/api/v1/jobs", params={"limit": 500}).json()["items"]
    assert [j["job_id"] for j in listed] == [int(j["job_id"]) for j in stored]
    assert {j["reward_amount"] for j in listed} == {str(j["reward_amount"]) for j in stored}
    assert any(int(j["reward_amount"]) > 2**64 for j in listed)  # u256 kept exact
    for status in {j["status"] for j in stored}:
        got = api.get("/api/v1/jobs", params={"status": status}).json()["items"]
        assert {j["job_id"] for j in got} == {
            int(j["job_id"]) for j in stored if j["status"] == status
        }
    creator = normalize_address(chain.accounts[1].address)
    mine = api.get("/api/v1/jobs", params={"creator": hex(chain.accounts[1].address)}).json()
    assert {j["job_id"] for j in mine["items"]} == {
        int(j["job_id"]) for j in stored if j["creator_address"] == creator
    }
    easy = api.get("/api/v1/jobs", params={"max_required_reputation": 500}).json()["items"]
    assert easy and all(j["min_reputation"] <= 500 for j in easy)
    finalized = next(j for j in stored if j["status"] == "finalized")
    job = api.get(f"/api/v1/jobs/{finalized['job_id']}").json()
    assert job["asset_cid"] == finalized["asset_cid"] and job["status"] == "finalized"
    timeline = api.get(f"/api/v1/jobs/{finalized['job_id']}/events").json()["items"]
    names = [e["event_name"] for e in timeline]
    assert names[0] == "JobCreated" and "ResultSubmitted" in names and "JobFinalized" in names
    blocks = [(e["block_number"], e["transaction_index"], e["event_index"]) for e in timeline]
    assert blocks == sorted(blocks)


def test_job_stats_add_up(api: httpx.Client, warehouse) -> None:
    stats = api.get("/api/v1/jobs/stats/overview").json()
    stored = rows(warehouse, "SELECT status, reward_amount FROM jobs")
    assert stats["jobs"] == len(stored)
    assert stats["paid_reward"] == str(
        sum(int(j["reward_amount"]) for j in stored if j["status"] == "finalized")
    )


def test_events_by_name_range_block_and_transaction(api: httpx.Client, warehouse) -> None:
    stored = rows(warehouse, "SELECT * FROM contract_events")
    stats = api.get("/api/v1/events/summary/stats").json()
    assert stats["events"] == len(stored)
    assert stats["last_block"] == max(e["block_number"] for e in stored)
    created = api.get("/api/v1/events", params={"name": "JobCreated", "limit": 500}).json()
    assert len(created["items"]) == stats["by_name"]["JobCreated"]
    middle = sorted(e["block_number"] for e in stored)[len(stored) // 2]
    ranged = api.get(
        "/api/v1/events", params={"from_block": middle, "to_block": middle, "limit": 500}
    ).json()["items"]
    in_block = api.get(f"/api/v1/events/block/{middle}", params={"limit": 500}).json()["items"]
    assert ranged == in_block and {e["block_number"] for e in ranged} == {middle}
    tx = in_block[0]["transaction_hash"]
    of_tx = api.get(f"/api/v1/events/tx/{hex(int(tx, 16))}").json()["items"]
    assert of_tx and {e["transaction_hash"] for e in of_tx} == {tx}


def test_bad_requests_get_the_error_shape(api: httpx.Client) -> None:
    assert_error(api.get("/api/v1/workers/0x" + "f" * 70), 422, "invalid_request")
    assert_error(api.get("/api/v1/workers/not-an-address"), 422, "invalid_request")
    assert_error(api.get(f"/api/v1/workers/{hex(2**200)}"), 404, "not_found")
    assert_error(api.get("/api/v1/jobs/0"), 422, "invalid_request")
    assert_error(api.get("/api/v1/jobs/999999"), 404, "not_found")
    assert_error(api.get("/api/v1/jobs/999999/events"), 404, "not_found")
    assert_error(api.get("/api/v1/jobs", params={"status": "lost"}), 422, "invalid_request")
    assert_error(api.get("/api/v1/jobs", params={"limit": 0}), 422, "invalid_request")
    error = assert_error(
        api.get("/api/v1/events", params={"from_block": 9, "to_block": 3}), 400, "bad_request"
    )
    assert "from_block" in error["message"]
    assert_error(api.get("/api/v1/events", params={"name": "Job\x00"}), 422, "invalid_request")
    assert_error(api.get("/api/v1/nothing"), 404, "not_found")
    assert_error(api.delete("/api/v1/jobs"), 405, "method_not_allowed")
