"""The uploads sweep unpins from the platform's IPFS node the scenes no job used within the
grace period, and marks them; it keeps what a job uses, what is recent or uploaded again,
and anything it did not record; with the node down it fails and marks nothing. Real
devchain jobs, warehouse and Kubo node; the job run as the schedule runs it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from kubonode.process import KuboProcess
from tests.support.activity import CIDS, Activity
from tests.support.chain import Driver
from tests.support.pins import pinned
from tests.support.warehouse import fresh_warehouse_url, ingestor
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.ipfs import IpfsClient, IpfsUnavailable
from veriframe_core.processes import free_port
from veriframe_core.settings import Settings
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_core.warehouse.engine import make_engine
from veriframe_dagster.definitions import build_definitions
from veriframe_dagster.defs.uploads.jobs import SWEEP_JOB_NAME
from veriframe_dagster.defs.uploads.unused import Swept, unpin_unused, unused

DAY = 86400
GRACE = 7 * DAY  # the default
NODE = "warehouse__asset_uploads"


@pytest.fixture(scope="module")
def activity(chain: Driver) -> Activity:
    activity = Activity(chain)
    activity.setup_workers()
    return activity


@pytest.fixture
def warehouse(embedded_pg: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh warehouse's URL, in the environment as Dagster's processes read it."""
    url = fresh_warehouse_url(embedded_pg, "uploads")
    monkeypatch.setenv("VERIFRAME_DATABASE_URL", url)
    yield url


class Uploads:
    """Scenes added to the node and recorded as `POST /api/v1/assets` does, then aged."""

    def __init__(self, url: str, kubo: KuboProcess, chain: Driver):
        self.engine = make_engine(url)
        self.kubo = kubo
        self.chain = chain

    def add(self, content: bytes, account: int = 1, age_s: float = 0) -> str:
        with IpfsClient(self.kubo.url) as ipfs:
            cid = ipfs.add_bytes(content)
        with self.engine.begin() as conn:
            conn.execute(
                sa.text(
                    """INSERT INTO asset_uploads (address, cid, size, uploaded_at)
                       VALUES (:address, :cid, :size, now() - make_interval(secs => :age))"""
                ),
                {
                    "address": hex(self.chain.accounts[account].address),
                    "cid": cid,
                    "size": len(content),
                    "age": age_s,
                },
            )
        return cid

    def unpinned_at(self) -> dict[str, list]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT cid, unpinned_at FROM asset_uploads ORDER BY id"))
            out: dict[str, list] = {}
            for cid, at in rows:
                out.setdefault(cid, []).append(at)
            return out


@pytest.fixture
def uploads(warehouse: str, kubo: KuboProcess, chain: Driver) -> Iterator[Uploads]:
    uploads = Uploads(warehouse, kubo, chain)
    yield uploads
    uploads.engine.dispose()


def post_job(activity: Activity, cid: str, creator: int = 0) -> int:
    chain = activity.d
    call = chain.reg("create_job", *cid_to_felts(cid), 10**18, chain.now() + 10**6)
    chain.send(activity.creators[creator], call)
    return chain.view(chain.registry, "get_job_counter")


def ingest(url: str, chain: Driver) -> None:
    engine = make_engine(url)
    try:
        ingestor(engine, chain).tick(60, until_caught_up=True)
    finally:
        engine.dispose()


def sweep(url: str, ipfs_url: str, tmp_path: Path) -> dg.ExecuteInProcessResult:
    """One run of the sweep job, from the code location's definitions."""
    settings = Settings(data_dir=tmp_path, database_url=url, ipfs_api_url=ipfs_url)
    job = build_definitions(settings).resolve_job_def(SWEEP_JOB_NAME)
    with dg.instance_for_test() as instance:
        return job.execute_in_process(instance=instance, raise_on_error=False)


def swept(result: dg.ExecuteInProcessResult) -> dict[str, int]:
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_only_an_old_upload_no_job_used_is_unpinned_and_marked(
    warehouse: str, uploads: Uploads, activity: Activity, kubo: KuboProcess, tmp_path: Path
) -> None:
    old = uploads.add(scene := os.urandom(300_000), age_s=GRACE + DAY)
    recent = uploads.add(os.urandom(1000), age_s=GRACE - 3600)
    used = uploads.add(os.urandom(1000), account=1, age_s=GRACE + DAY)
    again = uploads.add(twice := os.urandom(1000), account=1, age_s=GRACE + DAY)
    assert uploads.add(twice, account=2, age_s=DAY) == again  # the same bytes, by another
    delivered = uploads.add(os.urandom(1000), age_s=GRACE + DAY)  # a frame's bytes, say
    profile = uploads.add(os.urandom(1000), age_s=GRACE + DAY)  # a worker's profile's bytes
    with IpfsClient(kubo.url) as ipfs:
        unrecorded = ipfs.add_bytes(os.urandom(1000))  # pinned by other code
    newcomer = activity.d.accounts[10]  # registers with that profile (its first 31 characters)
    activity.d.send(newcomer, activity.d.reg("register_worker", cid_to_felts(profile)[0]))
    post_job(activity, used, creator=1)  # another account's job, posted after the upload
    job = post_job(activity, CIDS[0])
    activity.d.send(
        activity.workers[0], activity.d.reg("submit_result", job, *cid_to_felts(delivered))
    )
    ingest(warehouse, activity.d)

    result = sweep(warehouse, kubo.url, tmp_path)

    assert result.success
    assert swept(result) == {
        "unpinned_cids": 1,
        "unpinned_uploads": 1,
        "bytes_freed": len(scene),
        "pinned_again": 0,
        "still_pinned_cids": 5,
        "still_pinned_bytes": 5000,
    }
    assert not pinned(kubo.url, old)
    for cid in (recent, used, again, delivered, profile, unrecorded):
        assert pinned(kubo.url, cid), cid
    marks = uploads.unpinned_at()
    assert marks[old][0] is not None
    kept = (recent, used, again, delivered, profile)
    assert all(at is None for cid in kept for at in marks[cid])


def test_a_swept_upload_is_not_tried_again_and_a_job_posted_for_it_later_is_named(
    warehouse: str, uploads: Uploads, activity: Activity, kubo: KuboProcess, tmp_path: Path
) -> None:
    late = uploads.add(os.urandom(2000), age_s=GRACE + DAY)
    first = sweep(warehouse, kubo.url, tmp_path)
    assert swept(first)["unpinned_cids"] == 1
    (marked,) = uploads.unpinned_at()[late]
    job = post_job(activity, late)  # the creator came back after the grace period
    ingest(warehouse, activity.d)

    second = sweep(warehouse, kubo.url, tmp_path)

    assert second.success  # the check warns, it does not fail the run
    assert swept(second)["unpinned_cids"] == 0
    assert uploads.unpinned_at()[late] == [marked]
    (check,) = second.get_asset_check_evaluations()
    assert check.check_name == "no_open_job_lost_its_scene"
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["jobs"].value == [{"job_id": job, "cid": late}]
    assert first.get_asset_check_evaluations()[0].passed


def test_a_node_that_is_down_fails_the_sweep_and_nothing_is_marked(
    warehouse: str, uploads: Uploads, kubo: KuboProcess, tmp_path: Path
) -> None:
    old = uploads.add(os.urandom(1000), age_s=GRACE + DAY)

    result = sweep(warehouse, f"http://127.0.0.1:{free_port()}", tmp_path)

    assert not result.success
    message = result.failure_data_for_node(NODE).error.message
    assert "Uploads sweep stopped after 0 of 1 CIDs" in message
    assert f"unpinning {old}" in message and "check that the node runs" in message
    assert uploads.unpinned_at()[old] == [None]
    assert pinned(kubo.url, old)


def test_a_node_lost_midway_leaves_marked_exactly_what_it_unpinned(
    warehouse: str, chain: Driver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node stops after the first batch (of one CID here): that CID is marked, the next
    fails the sweep, and the rest wait for the next sweep, unmarked."""
    node = KuboProcess(tmp_path / "repo", free_port()).start()
    uploads = Uploads(warehouse, node, chain)
    try:
        first, second, third = (uploads.add(os.urandom(100), age_s=GRACE + i) for i in (3, 2, 1))
        with uploads.engine.connect() as conn:
            due = unused(conn, GRACE)
        monkeypatch.setattr("veriframe_dagster.defs.uploads.unused.BATCH", 1)
        done = Swept()
        with (
            IpfsClient(node.url, attempts=2, backoff_s=0.05) as ipfs,
            pytest.raises(IpfsUnavailable, match=f"unpinning {second}"),
        ):
            unpin_unused(uploads.engine, ipfs, due, GRACE, lambda _: node.stop(), done)
        assert done == Swept(cids=1, uploads=1, bytes_freed=100)
        marks = uploads.unpinned_at()
        assert marks[first][0] is not None and marks[second] == marks[third] == [None]
    finally:
        node.stop()
        uploads.engine.dispose()


def test_an_upload_used_again_while_it_is_unpinned_is_pinned_again(
    warehouse: str, uploads: Uploads, kubo: KuboProcess
) -> None:
    """The same bytes uploaded again between the sweep's query and its unpinning."""
    old = uploads.add(scene := os.urandom(1000), age_s=GRACE + DAY)
    with uploads.engine.connect() as conn:
        due = unused(conn, GRACE)
    assert [row.cid for row in due] == [old]
    uploads.add(scene, account=2)
    done, lines = Swept(), []
    with IpfsClient(kubo.url) as ipfs:
        unpin_unused(uploads.engine, ipfs, due, GRACE, lines.append, done)
    assert done == Swept(pinned_again=1)
    assert pinned(kubo.url, old)
    assert uploads.unpinned_at()[old] == [None, None]
    assert lines == [f"Uploads sweep: {old} was used or uploaded again meanwhile: pinned again"]


def test_the_sweep_is_scheduled_from_the_start_with_its_check() -> None:
    from veriframe_dagster.definitions import defs

    schedule = defs.resolve_schedule_def(f"{SWEEP_JOB_NAME}_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.cron_schedule == Settings().asset_sweep_cron
    job = defs.resolve_job_def(SWEEP_JOB_NAME)
    checks = {key.name for key in job.asset_layer.asset_graph.asset_check_keys}
    assert "no_open_job_lost_its_scene" in checks
