"""Live updates over a real websocket, fed by real Postgres LISTEN/NOTIFY: committed changes
arrive, rolled-back ones never do, across API processes, from chain ingestion, and after the
LISTEN session is killed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from websockets.exceptions import ConnectionClosed

from api.realtime import ChangeFeed
from tests.support.activity import CIDS, Activity
from tests.support.api import ApiServer, api_settings
from tests.support.chain import Driver
from tests.support.live import WAIT_S, live
from tests.support.warehouse import ingestor
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.processes import free_port
from veriframe_core.protocol import JobDetail
from veriframe_core.settings import Settings
from veriframe_core.warehouse.notify import CHANNEL, MAX_PAYLOAD_BYTES, notify_changes, payloads
from veriframe_core.warehouse.tables import jobs


def feed_of(server: ApiServer) -> ChangeFeed:
    return server.server.config.app.state.feed


def listening(feed: ChangeFeed, not_pid: int | None = None) -> int:
    """The feed's LISTEN session, once it is up (and, with `not_pid`, a new one)."""
    deadline = time.monotonic() + WAIT_S
    while feed.backend_pid is None or feed.backend_pid == not_pid:
        assert time.monotonic() < deadline, "the change feed is not LISTENing"
        time.sleep(0.02)
    return feed.backend_pid


def change_job(engine: sa.Engine, job_id: int, score: int, *, commit: bool = True) -> None:
    """What any writer does: change a row and announce it in the same transaction."""
    with engine.connect() as conn:
        conn.execute(sa.update(jobs).where(jobs.c.job_id == job_id).values(quality_score=score))
        notify_changes(conn, source="test", jobs=[job_id])
        conn.commit() if commit else conn.rollback()


def rest_job(http: httpx.Client, job_id: int) -> dict[str, Any]:
    """The job as `GET /api/v1/jobs/{id}` serves it: what the websocket sends too."""
    body = http.get(f"/api/v1/jobs/{job_id}").raise_for_status().json()
    JobDetail.model_validate(body)
    return body


def is_job(job_id: int, score: int | None = None) -> Callable[[dict], bool]:
    return lambda m: (
        m["type"] == "job"
        and m["topic"] == f"job:{job_id}"
        and (score is None or m["data"]["quality_score"] == score)
    )


@pytest.fixture(scope="module")
def settings(chain: Driver) -> Settings:
    return api_settings(chain)


@pytest.fixture(scope="module")
def server(settings: Settings, warehouse: sa.Engine) -> Iterator[ApiServer]:
    api = ApiServer(settings, warehouse).start()
    listening(feed_of(api))
    yield api
    api.stop()


@pytest.fixture(scope="module")
def http(server: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


@pytest.fixture
def other_process(
    settings: Settings, warehouse: sa.Engine, tmp_path: Path
) -> Iterator[tuple[str, int]]:
    """A second API as its own OS process (uvicorn) on the same database: its URL and PID,
    once its LISTEN session shows in pg_stat_activity."""
    port = free_port()
    env = {
        **os.environ,
        "VERIFRAME_DATA_DIR": str(tmp_path),
        "VERIFRAME_DATABASE_URL": warehouse.url.render_as_string(hide_password=False),
        "VERIFRAME_STARKNET_RPC_URL": settings.starknet_rpc_url,
        "VERIFRAME_JOB_REGISTRY_ADDRESS": settings.job_registry_address or "",
        "VERIFRAME_API_JWT_SECRET": settings.api_jwt_secret.get_secret_value(),
    }
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(command, env=env, cwd=Path(__file__).parents[2])
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the second API process died"
            assert time.monotonic() < deadline, "the second API process did not start"
            with warehouse.connect() as conn:
                up = conn.execute(
                    sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": f"veriframe-api-listen-{proc.pid}"},
                ).scalar()
            try:
                if up and httpx.get(url + "/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------ the notification


def test_payloads_are_compact_deduplicated_and_split_under_the_limit() -> None:
    assert payloads("chain") == []
    assert payloads("api", [3, 1, 3], ["0x" + "a" * 64]) == [
        '{"source":"api","jobs":[3,1],"workers":["0x' + "a" * 64 + '"]}'
    ]
    job_ids = list(range(10**12, 10**12 + 3000))
    addresses = [normalize_address(n) for n in range(1, 300)]
    found = payloads("chain", job_ids + job_ids, addresses)
    assert len(found) > 1
    assert all(len(p.encode()) <= MAX_PAYLOAD_BYTES for p in found)
    bodies = [json.loads(p) for p in found]
    assert all(b["source"] == "chain" for b in bodies)
    assert [j for b in bodies for j in b["jobs"]] == job_ids
    assert [w for b in bodies for w in b["workers"]] == addresses
    assert all("offered" not in b for b in bodies)  # only when some verification is offered
    offered = payloads("api", [7], offered=[7, 7])
    assert offered == ['{"source":"api","jobs":[7],"workers":[],"offered":[7]}']


def test_notifications_are_sent_on_commit_only_in_one_statement(warehouse: sa.Engine) -> None:
    args, kwargs = warehouse.dialect.create_connect_args(warehouse.url)
    listener = warehouse.dialect.dbapi.connect(*args, **kwargs)
    listener.autocommit = True
    try:
        with listener.cursor() as cur:
            cur.execute(f"LISTEN {CHANNEL}")
        with warehouse.connect() as conn:
            notify_changes(conn, source="test", jobs=[5])
            conn.rollback()
        with warehouse.begin() as conn:
            notify_changes(conn, source="test")  # nothing to say: no statement
            notify_changes(conn, source="test", jobs=range(1, 2001), workers=["0x" + "b" * 64])
        heard: list[dict] = []
        deadline = time.monotonic() + WAIT_S
        while sum(len(b["jobs"]) for b in heard) < 2000:
            assert time.monotonic() < deadline, heard
            listener.poll()
            heard += [json.loads(n.payload) for n in listener.notifies]
            listener.notifies.clear()
            time.sleep(0.01)
        assert len(heard) > 1
        assert [j for b in heard for j in b["jobs"]] == list(range(1, 2001))  # not 5
        assert [w for b in heard for w in b["workers"]] == ["0x" + "b" * 64]
    finally:
        listener.close()


# ------------------------------------------------------------------ the websocket


def test_job_subscriber_receives_committed_changes_and_nothing_of_a_rollback(
    server: ApiServer, http: httpx.Client, warehouse: sa.Engine
) -> None:
    client = live(server.url)
    with client.ws:
        assert client.subscribe("job:1") == rest_job(http, 1)
        assert client.subscribe("job:2") == rest_job(http, 2)
        change_job(warehouse, 1, 11, commit=False)
        change_job(warehouse, 2, 22)
        # a notification of the rolled-back job would have come first (commit order)
        first = client.next()
        assert is_job(2, 22)(first) and first["data"] == rest_job(http, 2)
        change_job(warehouse, 1, 33)
        second = client.next()
        assert is_job(1, 33)(second) and second["data"] == rest_job(http, 1)


def test_subscriber_on_another_api_process_sees_the_change(
    server: ApiServer, warehouse: sa.Engine, other_process: tuple[str, int]
) -> None:
    other_url, _ = other_process
    here, there = live(server.url), live(other_url)
    with here.ws, there.ws:
        assert there.subscribe("job:3")["job_id"] == 3
        here.subscribe("job:3")
        change_job(warehouse, 3, 44)  # committed by this (test) process, not by either API
        for client in (there, here):
            assert client.wait_for(is_job(3))["data"]["quality_score"] == 44


def test_job_created_on_chain_is_available_after_an_ingestion_tick(
    server: ApiServer, http: httpx.Client, warehouse: sa.Engine, chain: Driver
) -> None:
    activity = Activity(chain)
    next_id = chain.view(chain.registry, "get_job_counter") + 1
    client = live(server.url)
    with client.ws:
        assert client.subscribe("jobs:available") is None
        assert client.subscribe(f"job:{next_id}") is None  # not created yet
        (job_id,) = activity.create_jobs(chain.accounts[1], 1, ttl=10**6)
        assert job_id == next_id
        ingestor(warehouse, chain).tick(60, until_caught_up=True)
        job, available = client.next(), client.next()  # the job's topic first, then the list
        assert is_job(job_id)(job) and job["data"] == rest_job(http, job_id)
        assert available == {"type": "available", "topic": "jobs:available", "data": job["data"]}
        assert available["data"]["status"] == "open"

        worker = next(
            w
            for w in activity.workers
            if chain.view(chain.registry, "is_worker_eligible", w.address, job_id)
        )
        chain.send(worker, chain.reg("submit_result", job_id, *cid_to_felts(CIDS[0])))
        ingestor(warehouse, chain).tick(60, until_caught_up=True)
        gone = client.wait_for(lambda m: m["type"] == "unavailable")
        assert gone == {
            "type": "unavailable",
            "topic": "jobs:available",
            "data": {"job_id": job_id, "status": "submitted"},
        }


def test_available_subscribers_hear_when_an_open_job_is_taken_and_reopened(
    server: ApiServer, http: httpx.Client, warehouse: sa.Engine
) -> None:
    with warehouse.connect() as conn:
        job_id = int(
            conn.execute(sa.text("SELECT min(job_id) FROM jobs WHERE status = 'open'")).scalar()
        )
        settled = conn.execute(
            sa.text("SELECT job_id FROM jobs WHERE status = 'finalized'")
        ).scalars()
        settled_ids = [int(j) for j in settled]
    assert settled_ids

    def set_status(status: str) -> None:  # what a claim and a lease expiry do
        with warehouse.begin() as conn:
            conn.execute(sa.update(jobs).where(jobs.c.job_id == job_id).values(status=status))
            notify_changes(conn, source="test", jobs=[*settled_ids, job_id])

    client = live(server.url)
    with client.ws:
        client.subscribe("jobs:available")
        set_status("assigned")
        # the settled jobs were never open: nothing about them
        assert client.next() == {
            "type": "unavailable",
            "topic": "jobs:available",
            "data": {"job_id": job_id, "status": "assigned"},
        }
        set_status("open")
        reopened = client.next()
        assert reopened["type"] == "available" and reopened["data"] == rest_job(http, job_id)


def test_worker_topic_takes_any_address_form(
    server: ApiServer, http: httpx.Client, warehouse: sa.Engine
) -> None:
    with warehouse.connect() as conn:
        address = conn.execute(sa.text("SELECT address FROM workers LIMIT 1")).scalar()
    client = live(server.url)
    with client.ws:
        client.send({"action": "subscribe", "topic": f"worker:{int(address, 16)}"})
        reply = client.next()
        assert reply["topic"] == f"worker:{address}"
        assert reply["data"] == http.get(f"/api/v1/workers/{address}").json()
        with warehouse.begin() as conn:
            conn.execute(
                sa.text("UPDATE workers SET contact_info = 'ops@example.org' WHERE address = :a"),
                {"a": address},
            )
            notify_changes(conn, source="test", workers=[address])
        update = client.next()
        assert update["type"] == "worker" and update["topic"] == f"worker:{address}"
        assert update["data"]["contact_info"] == "ops@example.org"
        assert update["data"] == http.get(f"/api/v1/workers/{address}").json()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_request"),
        ("[1, 2]", "invalid_request"),
        ("[" * 2000 + "]" * 2000, "invalid_request"),
        ("x" * 5000, "invalid_request"),
        (b"\x00binary", "invalid_request"),
        ({"action": "dance", "topic": "job:1"}, "invalid_request"),
        ({"topic": "job:1"}, "invalid_request"),
        ({"action": "subscribe"}, "invalid_request"),
        ({"action": "subscribe", "topic": 5}, "invalid_request"),
        ({"action": "subscribe", "topic": "jobs:all"}, "invalid_request"),
        ({"action": "subscribe", "topic": "job:0"}, "invalid_request"),
        ({"action": "subscribe", "topic": "job:-1"}, "invalid_request"),
        ({"action": "subscribe", "topic": "job:0x5"}, "invalid_request"),
        ({"action": "subscribe", "topic": f"job:{2**251}"}, "invalid_request"),
        ({"action": "subscribe", "topic": "job:١٢"}, "invalid_request"),
        ({"action": "subscribe", "topic": "worker:0xnothex"}, "invalid_request"),
        ({"action": "subscribe", "topic": f"worker:{2**252}"}, "invalid_request"),
        ({"action": "unsubscribe", "topic": "x" * 5000}, "invalid_request"),
    ],
)
def test_bad_frames_get_error_frames_and_the_connection_stays_usable(
    server: ApiServer, frame: Any, code: str
) -> None:
    client = live(server.url)
    with client.ws:
        client.send(frame)
        reply = client.next()
        assert reply["type"] == "error" and reply["error"]["code"] == code
        assert reply["error"]["message"]
        assert client.subscribe("job:1")["job_id"] == 1
        client.send({"action": "ping"})
        assert client.next()["type"] == "pong"


def test_topics_per_connection_are_capped(server: ApiServer) -> None:
    client = live(server.url)
    with client.ws:
        for job_id in range(1, 101):
            client.subscribe(f"job:{job_id}")
        client.send({"action": "subscribe", "topic": "job:101"})
        assert client.next()["error"]["code"] == "too_many_topics"
        client.subscribe("job:100")  # already held: fine
        client.send({"action": "unsubscribe", "topic": "job:100"})
        assert client.next() == {"type": "unsubscribed", "topic": "job:100", "data": None}
        client.subscribe("job:101")


def test_a_client_too_slow_for_its_queue_is_closed_with_1013(
    settings: Settings, warehouse: sa.Engine
) -> None:
    tight = ApiServer(settings.model_copy(update={"api_ws_queue_size": 2}), warehouse).start()
    try:
        listening(feed_of(tight))
        client = live(tight.url)
        bystander = live(tight.url)
        with client.ws, bystander.ws:
            for job_id in range(1, 6):
                client.subscribe(f"job:{job_id}")
            bystander.subscribe("job:5")
            with warehouse.begin() as conn:  # one notification: five frames at once
                notify_changes(conn, source="test", jobs=range(1, 6))
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    client.next()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            assert bystander.next()["topic"] == "job:5"
    finally:
        tight.stop()


def test_the_listen_session_recovers_after_it_is_killed(
    server: ApiServer, warehouse: sa.Engine
) -> None:
    feed = feed_of(server)
    old = listening(feed)
    client = live(server.url)
    with client.ws:
        client.subscribe("job:4")
        client.subscribe("jobs:available")
        assert client.subscribe("verifications:available") is None
        with warehouse.connect() as conn:
            assert conn.execute(sa.select(sa.func.pg_terminate_backend(old))).scalar()
        assert listening(feed, not_pid=old) != old
        # after reconnecting, what may have been missed is sent again
        resynced = {client.wait_for(lambda m: m["type"] == "resync")["topic"] for _ in "12"}
        assert resynced == {"jobs:available", "verifications:available"}
        client.wait_for(is_job(4))
        change_job(warehouse, 4, 55)
        assert client.wait_for(is_job(4))["data"]["quality_score"] == 55
