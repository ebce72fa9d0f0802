"""Jobs as assets: the render sensor adds a partition per job and requests a run only when
an attempt has an outcome to record (a claim alone requests nothing): a delivery gets a run
of its own, which replays the worker's Pipes messages into its logs and one materialization,
however late it starts; each round of too many failed attempts gets a run that fails with
their reasons; a worker killed mid-render loses its lease and another one delivers, once."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psutil
import pytest
import sqlalchemy as sa
from PIL import Image

from tests.support.api import ApiServer, api_settings, bearer, sign_in
from tests.support.platform import WorkerPlatform, eventually, rendering
from veriframe_core.chain.addresses import normalize_address
from veriframe_core.settings import Settings
from veriframe_dagster.defs.render.assets import RENDER_KEY, render
from veriframe_dagster.defs.render.checks import frame_rechecked
from veriframe_dagster.defs.render.partitions import (
    ATTEMPT_TAG,
    FAILED_ROUND_TAG,
    RENDER_PARTITIONS,
)
from veriframe_dagster.defs.render.sensor import build_render_sensor
from veriframe_dagster.resources import RenderingResource, build_resources


@pytest.fixture
def resources(platform: WorkerPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    url = platform.warehouse_url
    chain, kubo = platform.chain, platform.kubo
    monkeypatch.setenv("VERIFRAME_DATABASE_URL", url)
    settings = Settings(
        data_dir=tmp_path,
        database_url=url,
        starknet_rpc_url=chain.url,
        job_registry_address=hex(chain.registry.address),
        ipfs_api_url=kubo.url,
        ipfs_gateway_url=f"{kubo.url}/ipfs",
        render_sensor_follow_s=0,  # one look per tick (a test below waits on purpose)
    )
    return build_resources(settings)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def tick(resources: dict, instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    sensor = build_render_sensor(resources["warehouse"], resources["rendering"])
    with dg.build_sensor_context(cursor=cursor, instance=instance) as ctx:
        return sensor(ctx)


def materialize(
    resources: dict, instance: dg.DagsterInstance, job_id: int, tags: dict[str, str], **kwargs
):
    """The run a request with these tags starts (re-executed when called again)."""
    instance.add_dynamic_partitions(RENDER_PARTITIONS.name, [str(job_id)])
    return dg.materialize(
        [render, frame_rechecked],
        partition_key=str(job_id),
        resources=resources,
        instance=instance,
        tags=tags,
        **kwargs,
    )


DELIVERED = {ATTEMPT_TAG: "1"}


def check_of(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_a_delivered_job_materializes_its_partition_with_the_workers_logs(
    platform: WorkerPlatform, tmp_path: Path, resources: dict, instance: dg.DagsterInstance
) -> None:
    job_id = platform.post_job(platform.upload())
    first = tick(resources, instance, None)
    assert instance.has_dynamic_partition(RENDER_PARTITIONS.name, str(job_id))
    assert first.run_requests == []  # not claimed yet
    count = len(instance.get_dynamic_partitions(RENDER_PARTITIONS.name))
    tick(resources, instance, first.cursor)  # nothing new: nothing added
    assert len(instance.get_dynamic_partitions(RENDER_PARTITIONS.name)) == count

    worker = platform.activity.workers[0]
    with platform.agent(worker, tmp_path) as agent:
        (outcome,) = agent.run(once=True)  # Dagster is not running: rendering goes on
    assert outcome.completed, outcome.reason
    claimed = tick(resources, instance, first.cursor)
    (request,) = claimed.run_requests
    assert (request.partition_key, request.run_key) == (str(job_id), f"render-{job_id}-a1")
    assert request.tags == {"veriframe/render": "true", ATTEMPT_TAG: "1"}

    result = materialize(resources, instance, job_id, request.tags)  # after the render
    assert result.success
    (event,) = result.asset_materializations_for_node("render")
    meta = {k: v.value for k, v in event.metadata.items()}
    assert meta["result_cid"] == outcome.result_cid
    assert meta["worker"] == normalize_address(worker.address)
    assert meta["attempts"] == 1 and meta["failed_attempts"] == 0
    assert meta["device"] == "CPU" and meta["width"] == 64 and meta["height"] == 48
    assert meta["preview"].endswith(f"/ipfs/{outcome.result_cid}")
    logs = [e.message for e in instance.all_logs(result.run_id)]
    assert any("Rendered frame 1 at 64×48" in line for line in logs)

    checked = check_of(result)  # the frame downloaded again and re-checked
    assert checked.passed and checked.metadata["width"].value == 64

    again = materialize(resources, instance, job_id, DELIVERED)  # re-executed: the same
    (replayed,) = again.asset_materializations_for_node("render")
    assert replayed.metadata["result_cid"].value == outcome.result_cid

    # a delivered CID whose content is not a render of the job fails the check
    blank = io.BytesIO()
    Image.new("RGB", (64, 48), (0, 0, 0)).save(blank, "PNG")
    blank_cid = platform.upload(blank.getvalue())
    with platform.warehouse.begin() as conn:
        conn.execute(
            sa.text("UPDATE job_attempts SET result_cid = :c WHERE job_id = :j"),
            {"c": blank_cid, "j": job_id},
        )
    tampered = check_of(materialize(resources, instance, job_id, DELIVERED, raise_on_error=False))
    assert not tampered.passed and "blank" in tampered.description


def test_after_too_many_failed_attempts_the_run_fails_with_their_reasons(
    platform: WorkerPlatform, tmp_path: Path, resources: dict, instance: dg.DagsterInstance
) -> None:
    job_id = platform.post_job(platform.upload(b"BLENDER-v500 but corrupt"))
    cursor = tick(resources, instance, None).cursor
    requested = []
    with platform.agent(platform.activity.workers[1], tmp_path) as agent:
        outcomes = []
        for _ in range(3):
            outcomes += agent.run(once=True)
            ticked = tick(resources, instance, cursor)
            requested.append(ticked.run_requests)
            cursor = ticked.cursor
    assert [o.job_id for o in outcomes] == [job_id] * 3 and not any(o.completed for o in outcomes)
    assert requested[:2] == [[], []]  # a failure that completes no round requests nothing
    (request,) = requested[2]
    assert (request.partition_key, request.run_key) == (str(job_id), f"render-{job_id}-0")
    assert request.tags[FAILED_ROUND_TAG] == "0"
    result = materialize(resources, instance, job_id, request.tags, raise_on_error=False)
    assert not result.success
    failure = result.failure_data_for_node("render").error
    assert f"job {job_id} failed 3 attempts" in failure.message
    assert failure.message.count("could not render the file") == 3


def test_a_claim_requests_nothing_and_a_waiting_tick_requests_the_delivery_at_once(
    platform: WorkerPlatform, resources: dict, instance: dg.DagsterInstance
) -> None:
    """A claimed job holds no run. Dagster starts sensor ticks every 5 s at best: a delivery
    made while a tick waits is requested by that tick (woken by its change notification),
    not the next one."""
    api = platform.api
    job_id = platform.post_job(platform.upload(b"BLENDER-v500"))
    caught_up = tick(resources, instance, None)  # whatever earlier tests left behind
    assert instance.has_dynamic_partition(RENDER_PARTITIONS.name, str(job_id))
    auth = bearer(sign_in(api, platform.activity.workers[0]))
    answer = api.post(f"/api/v1/jobs/{job_id}/assign", headers=auth)
    assert answer.status_code == 200, answer.text
    attempt = answer.json()["claim"]["attempt"]
    claimed = tick(resources, instance, caught_up.cursor)
    assert claimed.run_requests == []  # only claimed: no run, no slot
    rendering = RenderingResource(
        max_failed_attempts=resources["rendering"].max_failed_attempts, sensor_follow_s=20
    )
    waiting = {**resources, "rendering": rendering}
    frame = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(frame, "PNG")
    cid = platform.upload(frame.getvalue())
    delivered: list[int] = []

    def deliver() -> None:
        body = {"result_cid": cid, "render_time_s": 1.0, "device": "CPU"}
        answer = api.post(f"/api/v1/jobs/{job_id}/complete", json=body, headers=auth)
        delivered.append(answer.status_code)

    timer = threading.Timer(1.0, deliver)
    timer.start()
    try:
        result = tick(waiting, instance, claimed.cursor)
    finally:
        timer.join()
    assert delivered == [200]
    (request,) = result.run_requests
    key = f"render-{job_id}-a{attempt}"
    assert (request.partition_key, request.run_key) == (str(job_id), key)


SLOW = {"resolution_x": 320, "resolution_y": 240, "samples": 200}  # a few seconds


def test_a_worker_killed_mid_render_loses_its_lease_and_another_delivers_once(
    platform: WorkerPlatform, tmp_path: Path, resources: dict, instance: dg.DagsterInstance
) -> None:
    api = platform.api
    short_leases = api_settings(platform.chain, api_lease_s=5, api_lease_sweep_s=0.5)
    server = ApiServer(short_leases, platform.warehouse).start()
    try:
        job_id = platform.post_job(platform.upload(), **SLOW)
        first, second = platform.activity.workers[2], platform.activity.workers[3]
        agent = platform.worker_process(
            first, tmp_path / "first", VERIFRAME_WORKER_API_URL=server.url
        )
        try:
            blender = eventually(lambda: rendering(agent, job_id), timeout=90)
            agent.kill()
        finally:
            agent.kill()
            agent.wait()
        _, still_running = psutil.wait_procs(blender, timeout=10)
        assert blender and not still_running  # Blender died with its agent

        def reopened() -> dict | None:
            job = api.get(f"/api/v1/jobs/{job_id}").json()
            return job if job["claim"] is None else None

        assert eventually(reopened, 20)["status"] == "open"  # the lease ran out
        with platform.agent(second, tmp_path / "second", worker_api_url=server.url) as other:
            (outcome,) = other.run(once=True)
    finally:
        server.stop()
    assert outcome.completed and outcome.job_id == job_id, outcome.reason
    attempts = api.get(f"/api/v1/jobs/{job_id}/attempts").json()["items"]
    assert [(a["attempt"], a["state"]) for a in attempts] == [(2, "verified"), (1, "expired")]

    result = materialize(resources, instance, job_id, {ATTEMPT_TAG: "2"})
    (event,) = result.asset_materializations_for_node("render")
    meta = {k: v.value for k, v in event.metadata.items()}
    assert meta["worker"] == normalize_address(second.address) and meta["attempts"] == 2
    assert meta["failed_attempts"] == 1 and meta["result_cid"] == outcome.result_cid
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=RENDER_KEY, asset_partitions=[str(job_id)]), limit=10
    ).records
    assert len(records) == 1
