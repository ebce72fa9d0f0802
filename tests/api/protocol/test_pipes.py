"""Dagster Pipes over the API: the holder reads its attempt's context and stores its
messages in order and once; anyone else, or anything malformed, is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from render_executor.pipes import ApiMessageChannel, PipesDeliveryError, open_render_pipes
from tests.support.api import error, seeded


def log(text: str) -> dict:
    return {
        "__dagster_pipes_version": "0.1",
        "method": "log",
        "params": {"message": text, "level": "INFO"},
    }


def materialization(asset: str | None = None) -> dict:
    params = {
        "asset_key": asset,
        "metadata": {"result_cid": {"raw_value": "Qm", "type": "text"}},
        "data_version": None,
    }
    return {
        "__dagster_pipes_version": "0.1",
        "method": "report_asset_materialization",
        "params": params,
    }


@pytest.fixture
def claimed(api: httpx.Client, warehouse: sa.Engine, open_jobs: Iterator[int]) -> tuple[int, dict]:
    """A job claimed by a fresh worker, and that worker's auth header."""
    _, auth = seeded(warehouse)
    job = next(open_jobs)
    assert api.post(f"/api/v1/jobs/{job}/assign", headers=auth).status_code == 200
    return job, auth


def post(api: httpx.Client, job: int, auth: dict, first: int, messages: list, attempt: int = 1):
    body = {"attempt": attempt, "first_seq": first, "messages": messages}
    return api.post(f"/api/v1/jobs/{job}/pipes/messages", json=body, headers=auth)


def stored(engine: sa.Engine, job: int) -> list[tuple[int, str, dict]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT seq, method, message FROM pipes_messages WHERE job_id = :j ORDER BY seq"
            ),
            {"j": job},
        )
        return [tuple(r) for r in rows]


def test_the_holder_gets_its_attempts_pipes_context(api: httpx.Client, claimed) -> None:
    job, auth = claimed
    context = api.get(f"/api/v1/jobs/{job}/pipes/context", headers=auth)
    assert context.status_code == 200, context.text
    data = context.json()
    assert data["asset_keys"] == ["render"] and data["partition_key"] == str(job)
    assert data["partition_key_range"] == {"start": str(job), "end": str(job)}
    assert data["retry_number"] == 0 and data["run_id"].startswith("veriframe-attempt-")
    assert data["extras"]["attempt"] == 1
    assert data["extras"]["job"]["job_id"] == job
    assert data["extras"]["job"]["claim"]["state"] == "running"


def test_messages_are_stored_in_order_and_a_retry_stores_nothing_twice(
    api: httpx.Client, warehouse: sa.Engine, claimed
) -> None:
    job, auth = claimed
    first = [log("opened the file"), log("rendering")]
    assert post(api, job, auth, 0, first).json() == {"stored": 2, "next_seq": 2}
    assert post(api, job, auth, 0, first).json() == {"stored": 0, "next_seq": 2}  # a retry
    overlapping = [log("rendering"), materialization("render"), log("done")]
    assert post(api, job, auth, 1, overlapping).json() == {"stored": 2, "next_seq": 4}
    rows = stored(warehouse, job)
    assert [(seq, method) for seq, method, _ in rows] == [
        (0, "log"),
        (1, "log"),
        (2, "report_asset_materialization"),
        (3, "log"),
    ]
    assert rows[3][2] == log("done")


def test_a_gap_a_contradiction_or_another_attempt_is_refused(
    api: httpx.Client, warehouse: sa.Engine, claimed
) -> None:
    job, auth = claimed
    post(api, job, auth, 0, [log("a")])
    assert "resend from seq 1" in error(post(api, job, auth, 3, [log("d")]), 409)
    assert "differs" in error(post(api, job, auth, 0, [log("not a")]), 409)
    assert "is attempt 1, not attempt 2" in error(post(api, job, auth, 1, [log("b")], 2), 409)
    assert [seq for seq, _, _ in stored(warehouse, job)] == [0]


def test_only_the_holder_may_read_the_context_or_send_messages(
    api: httpx.Client, warehouse: sa.Engine, claimed
) -> None:
    job, _ = claimed
    _, stranger = seeded(warehouse)
    assert "not claimed by" in error(
        api.get(f"/api/v1/jobs/{job}/pipes/context", headers=stranger), 403
    )
    assert "not claimed by" in error(post(api, job, stranger, 0, [log("x")]), 403)
    assert api.get(f"/api/v1/jobs/{job}/pipes/context").status_code == 401
    assert stored(warehouse, job) == []


def test_after_failing_a_job_its_attempt_takes_no_more_messages(api: httpx.Client, claimed) -> None:
    job, auth = claimed
    assert (
        api.post(f"/api/v1/jobs/{job}/fail", json={"reason": "GPU lost"}, headers=auth).status_code
        == 200
    )
    assert "reported failed" in error(post(api, job, auth, 0, [log("late")]), 409)


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (materialization("other_asset"), "the `render` asset only"),
        ({"__dagster_pipes_version": "0.1", "method": "drop_table", "params": None}, "method"),
        ({"method": "log", "params": {}}, "__dagster_pipes_version"),
        (log("x" * 70_000), "65,536 bytes"),
        (log("nul \x00 inside"), "NUL"),
    ],
)
def test_malformed_messages_are_refused_whole(
    api: httpx.Client, warehouse: sa.Engine, claimed, message: dict, problem: str
) -> None:
    job, auth = claimed
    answer = post(api, job, auth, 0, [log("fine"), message])
    assert answer.status_code == 422 and problem in answer.text
    assert stored(warehouse, job) == []


def test_a_batch_is_limited_in_size(api: httpx.Client, claimed) -> None:
    job, auth = claimed
    assert post(api, job, auth, 0, [log(str(i)) for i in range(501)]).status_code == 422
    assert post(api, job, auth, 0, []).status_code == 422


def test_the_agent_reports_through_dagster_pipes_over_the_api(
    api_server, warehouse: sa.Engine, claimed
) -> None:
    job, auth = claimed
    with (
        httpx.Client(base_url=api_server.url, headers=auth, timeout=30) as client,
        open_render_pipes(client, job, attempt=1, interval=0.1) as pipes,
    ):
        assert pipes.partition_key == str(job)
        assert pipes.extras["job"]["job_id"] == job
        pipes.log.info("rendering frame 1")
        time.sleep(0.3)  # a background flush
        pipes.report_asset_materialization(metadata={"result_cid": "QmResult"})
        pipes.log.info("uploaded")
    rows = stored(warehouse, job)
    assert [seq for seq, _, _ in rows] == list(range(len(rows)))
    methods = [method for _, method, _ in rows]
    assert methods[0] == "opened" and methods[-1] == "closed"
    assert methods.count("report_asset_materialization") == 1
    logged = [m["params"]["message"] for _, method, m in rows if method == "log"]
    assert logged == ["rendering frame 1", "uploaded"]


def test_an_agent_without_the_claim_cannot_open_pipes(
    api_server, warehouse: sa.Engine, claimed
) -> None:
    job, _ = claimed
    _, stranger = seeded(warehouse)
    with (
        httpx.Client(base_url=api_server.url, headers=stranger, timeout=30) as client,
        pytest.raises(httpx.HTTPStatusError, match="403"),
        open_render_pipes(client, job, attempt=1),
    ):
        pass
    channel = ApiMessageChannel(httpx.Client(base_url=api_server.url, headers=stranger), job, 1)
    channel.write_message(log("not mine"))
    with pytest.raises(PipesDeliveryError, match="not claimed by"):
        channel.flush()
    assert stored(warehouse, job) == []
