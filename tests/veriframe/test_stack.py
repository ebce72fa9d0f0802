"""`veriframe up` (the README's first command) starts the platform and stops it cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest
import sqlalchemy as sa
from starknet_py.hash.selector import get_selector_from_name

from tests.support.browser import check_pages
from tests.support.debian_postgres import DebianPostgres
from tests.support.platform import eventually, veriframe_cli
from veriframe.demo import DEMO_SETTINGS
from veriframe.stack import _blaming_a_dead_part, forget_state
from veriframe_core.processes import Child, ChildDied, free_port
from veriframe_core.settings import Settings

UP_TIMEOUT_S = 120


@contextmanager
def running_up(
    tmp_path: Path, **settings: str
) -> Iterator[tuple[subprocess.Popen, Path, dict[str, str]]]:
    """`veriframe up`, stopped with Ctrl-C afterwards even when the test failed half-way."""
    proc, log, env = start_up(tmp_path, **settings)
    try:
        yield proc, log, env
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def start_up(tmp_path: Path, **settings: str) -> tuple[subprocess.Popen, Path, dict[str, str]]:
    """`veriframe up` on free ports with its data under `tmp_path`, and `settings` (named as
    the environment variables they are read from)."""
    log = tmp_path / "up.log"
    env = {
        **os.environ,
        "VERIFRAME_DATA_DIR": str(tmp_path / "data"),
        "VERIFRAME_DEVCHAIN_PORT": str(free_port()),
        "VERIFRAME_DAGSTER_PORT": str(free_port()),
        "VERIFRAME_API_PORT": str(free_port()),
        "VERIFRAME_IPFS_PORT": str(free_port()),
        **settings,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "veriframe.cli", "up"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + UP_TIMEOUT_S
    while "Press Ctrl-C to stop." not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"veriframe up did not come up:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)
    return proc, log, env


def wait_for(fetch, ready, timeout: float = 60):
    """`fetch()` once `ready` says yes of it."""
    deadline = time.monotonic() + timeout
    while not ready(value := fetch()):
        assert time.monotonic() < deadline, value
        time.sleep(0.5)
    return value


def child_pids(log: Path) -> dict[str, int]:
    """Each part's pid, the latest when `up` restarted it."""
    found = re.findall(r"started (\S+) \(pid (\d+)\)|(\S+) restarted \(pid (\d+)", log.read_text())
    return {started or restarted: int(pid or new) for started, pid, restarted, new in found}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


def test_up_serves_everything_restarts_what_dies_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    """One platform for all of it: starting `up` is the longest part."""
    with running_up(tmp_path) as (proc, log, env):
        text = log.read_text()
        warehouse = re.search(r"warehouse\s+(\S+)", text)[1]
        with sa.create_engine(warehouse).connect() as conn:
            assert conn.execute(sa.text("select version_num from alembic_version")).scalar()
        chain = json.loads((tmp_path / "data" / "devchain" / "chain.json").read_text())
        head = httpx.post(
            chain["rpc_url"], json={"jsonrpc": "2.0", "id": 1, "method": "starknet_blockNumber"}
        ).json()
        assert head["result"] >= 2  # the local worker's bootstrap: registered, verified
        ui = f"http://127.0.0.1:{env['VERIFRAME_DAGSTER_PORT']}"
        assert httpx.get(f"{ui}/server_info").json()["dagster_version"] == "1.13.27"
        # the code server on a Unix socket of up's own: no port probed free and taken meanwhile
        workspace = (tmp_path / "data" / "dagster_home" / "workspace.yaml").read_text()
        assert "socket: " in workspace and "port:" not in workspace
        api = f"http://127.0.0.1:{env['VERIFRAME_API_PORT']}"
        health = httpx.get(f"{api}/ready").json()
        assert health["database"] == "ok" and health["chain"]["head"] >= head["result"]
        # the demo job: created once the platform is up, from a generated scene
        demo = wait_for(
            lambda: httpx.get(f"{api}/api/v1/jobs").json()["items"],
            lambda items: [j["job_id"] for j in items] == [1],
        )
        assert demo[0]["creator_address"] != chain["owner_address"]
        wait_for(log.read_text, lambda text: "Demo job 1 (created now)" in text)
        # the operator's and the creator's commands, against this platform
        status = veriframe_cli("status", "--json", env=env)
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert sum(report["jobs"].values()) == 1 and report["workers"]["verified"] == 1
        assert report["chain"]["head"] >= head["result"] and report["queue"] is not None
        demo_blend = str(tmp_path / "data" / "demo.blend")
        slow = ("--resolution", "320x240", "--samples", "400")  # rendering for seconds
        submitted = veriframe_cli(
            "submit", demo_blend, "--no-wait", "--reward", "2", *slow, env=env
        )
        assert submitted.returncode == 0, submitted.stderr
        assert "job 2 created on chain" in submitted.stdout
        assert httpx.get(f"{api}/api/v1/jobs/2").json()["reward_amount"] == str(2 * 10**18)
        restarts_a_worker_killed_mid_render_and_the_daemon(log, env)
        ipfs = f"http://127.0.0.1:{env['VERIFRAME_IPFS_PORT']}"
        assert httpx.post(f"{ipfs}/api/v0/version").json()["Version"]
        assert health["ipfs"]["status"] == "ok"
        # the local worker: registered and verified on chain, its agent's profile in the API
        worker = re.search(r"worker\s+(0x[0-9a-f]+)", text)[1]
        assert httpx.post(
            chain["rpc_url"],
            json={
                "jsonrpc": "2.0",
                "id": 2,
                "method": "starknet_call",
                "params": {
                    "request": {
                        "contract_address": chain["job_registry_address"],
                        "entry_point_selector": hex(get_selector_from_name("get_worker_status")),
                        "calldata": [worker],
                    },
                    "block_id": "latest",
                },
            },
        ).json()["result"][:2] == ["0x1", hex(600)]
        profile = wait_for(
            lambda: httpx.get(f"{api}/api/v1/workers/{worker}").json(),
            lambda found: (found.get("capabilities") or {}).get("devices"),
        )
        assert profile["capabilities"]["devices"] == ["CPU"]
        # the local verifier, on the operator's account (devchain's owner), verifies the demo
        verifier = re.search(r"verifier\s+(0x[0-9a-f]+)", text)[1]
        assert int(verifier, 16) == int(chain["owner_address"], 16)
        verified = wait_for(
            lambda: httpx.get(f"{api}/api/v1/jobs/1").json()["verification"],
            lambda found: found and found["state"] == "verified",
            timeout=180,
        )
        assert int(verified["verifier_address"], 16) == int(verifier, 16)
        pids = child_pids(log)
        assert set(pids) == {
            "devchain",
            "ipfs",
            "dagster-code",
            "dagster-daemon",
            "dagster-webserver",
            "api",
            "worker",
            "verifier",
        }
        postmaster = tmp_path / "data" / "postgres" / "postmaster.pid"
        assert postmaster.exists()

        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        text = log.read_text()
        assert "VeriFrame stopped." in text
        assert "worker exited with code -9; restarting it in 1 s" in text
        assert "restarts: dagster-daemon 1, worker 1" in text
        assert not any(alive(pid) for pid in pids.values())
        assert not postmaster.exists()


PARTITIONS = """
{ assetNodeOrError(assetKey: {path: ["render"]}) { ... on AssetNode {
    assetPartitionStatuses { ... on DefaultPartitionStatuses {
        materializedPartitions failedPartitions materializingPartitions } }
    assetMaterializations(partitions: ["2"]) { runId } } } }
"""


def restarts_a_worker_killed_mid_render_and_the_daemon(log: Path, env: dict[str, str]) -> None:
    """`up` restarts each and names it; job 2 is delivered and recorded once, its partition
    green, and `veriframe status` finds the new daemon alive."""
    api = f"http://127.0.0.1:{env['VERIFRAME_API_PORT']}"
    ui = f"http://127.0.0.1:{env['VERIFRAME_DAGSTER_PORT']}"
    worker = psutil.Process(child_pids(log)["worker"])

    def rendering_job_2() -> list[psutil.Process]:
        with contextlib.suppress(psutil.Error):
            found = worker.children(recursive=True)
            return [c for c in found if any("job-2-" in a for a in c.cmdline())]
        return []

    eventually(rendering_job_2, timeout=240)
    worker.kill()
    wait_for(log.read_text, lambda text: "worker restarted (pid" in text)
    os.kill(child_pids(log)["dagster-daemon"], signal.SIGKILL)
    wait_for(log.read_text, lambda text: "dagster-daemon restarted (pid" in text)
    wait_for(
        lambda: httpx.get(f"{api}/api/v1/jobs/2").json()["verification"],
        lambda found: found and found["state"] == "verified",
        timeout=300,
    )
    attempts = httpx.get(f"{api}/api/v1/jobs/2/attempts").json()["items"]
    assert [a["attempt"] for a in attempts] == [2, 1]
    assert attempts[0]["state"] == "verified" and attempts[1]["state"] in ("failed", "expired")

    def recorded() -> dict:
        answer = httpx.post(f"{ui}/graphql", json={"query": PARTITIONS}).json()
        return answer["data"]["assetNodeOrError"]

    asset = wait_for(
        recorded, lambda found: "2" in found["assetPartitionStatuses"]["materializedPartitions"]
    )
    assert "2" not in asset["assetPartitionStatuses"]["failedPartitions"]
    assert len(asset["assetMaterializations"]) == 1
    status = veriframe_cli("status", "--json", env=env)
    assert json.loads(status.stdout)["daemon"]["status"] == "ok", status.stdout
    assert "daemon   ok, last heartbeat" in veriframe_cli("status", env=env).stdout


def test_up_stops_everything_when_a_part_keeps_dying(tmp_path: Path) -> None:
    with running_up(tmp_path, VERIFRAME_UP_MAX_DEATHS="1") as (proc, log, _):
        wait_for(log.read_text, lambda text: "Demo job 1 (created now)" in text)  # supervised
        pids = child_pids(log)
        os.kill(pids["devchain"], signal.SIGKILL)
        assert proc.wait(timeout=60) == 1
    assert "devchain died 1 time within 300 s" in log.read_text()
    assert not any(alive(pid) for pid in pids.values())
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()


def test_a_call_that_fails_as_a_part_is_killed_names_the_part(tmp_path: Path) -> None:
    """The refused connection of a killed part can come before the part can be reaped."""
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    devchain = Child.spawn("devchain", sleeper, tmp_path / "devchain.log")
    os.kill(devchain.pid, signal.SIGKILL)
    dead = pytest.raises(ChildDied, match="devchain exited with code -9")
    with dead, _blaming_a_dead_part([devchain]):
        raise ConnectionRefusedError("Connect call failed")
    alive = Child.spawn("api", sleeper, tmp_path / "api.log")
    try:
        with pytest.raises(ConnectionRefusedError), _blaming_a_dead_part([alive], grace_s=0.2):
            raise ConnectionRefusedError("Connect call failed")
    finally:
        alive.stop()


def test_up_names_the_setting_of_a_port_already_taken_and_starts_nothing(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VERIFRAME_DATA_DIR": str(tmp_path / "data"),
        "VERIFRAME_DEVCHAIN_PORT": str(free_port()),
        "VERIFRAME_DAGSTER_PORT": str(free_port()),
        "VERIFRAME_IPFS_PORT": str(free_port()),
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env["VERIFRAME_API_PORT"] = str(taken.getsockname()[1])
        result = veriframe_cli("up", env=env, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "already in use" in result.stderr and "VERIFRAME_API_PORT" in result.stderr
    assert not (tmp_path / "data" / "postgres").exists()  # refused before anything started


@pytest.fixture
def debian_postgres() -> Iterator[DebianPostgres]:
    server = DebianPostgres().start()
    yield server
    server.stop()


def test_up_on_an_external_postgres_renders_the_demo_and_the_ui_shows_it(
    tmp_path: Path, debian_postgres: DebianPostgres
) -> None:
    password = secrets.token_urlsafe(18)
    debian_postgres.create_owner("veriframe", password, "vf_warehouse", "vf_dagster")
    warehouse = debian_postgres.url("vf_warehouse", "veriframe", password)
    dagster = debian_postgres.url("vf_dagster", "veriframe", password)
    with running_up(
        tmp_path, VERIFRAME_DATABASE_URL=warehouse, VERIFRAME_DAGSTER_DATABASE_URL=dagster
    ) as (proc, log, env):
        # the demo job renders; its materialization is in Dagster's storage on that server
        dagster_db = sa.create_engine(dagster)
        materialized = (
            "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
            " AND asset_key = :key AND partition = '1'"
        )
        with dagster_db.connect() as conn:
            wait_for(
                lambda: conn.execute(sa.text(materialized), {"key": '["render"]'}).scalar(),
                lambda count: count == 1,
                timeout=180,
            )
        dagster_db.dispose()
        warehouse_db = sa.create_engine(warehouse)
        with warehouse_db.connect() as conn:
            assert conn.execute(sa.text("SELECT max(job_id) FROM jobs")).scalar() == 1
            cid = conn.execute(
                sa.text(
                    "SELECT result_cid FROM job_attempts WHERE job_id = 1 "
                    "AND state IN ('completed', 'verifying', 'verified')"
                )
            ).scalar_one()
        warehouse_db.dispose()
        assert not (tmp_path / "data" / "postgres").exists()  # no embedded server
        # what a newcomer then sees: the partition with its image, and the API docs
        shots = check_pages(
            f"http://127.0.0.1:{env['VERIFRAME_DAGSTER_PORT']}",
            f"http://127.0.0.1:{env['VERIFRAME_API_PORT']}",
            job_id=1,
            cid=cid,
            width=DEMO_SETTINGS["resolution_x"],
        )
        assert all(shot.stat().st_size > 10_000 for shot in shots)
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    assert debian_postgres.is_running()  # a server `up` did not start, it does not stop
    logs = [log, *(tmp_path / "data").rglob("*.log")]
    assert len(logs) > 3
    assert not [path for path in logs if password in path.read_text(errors="replace")]


def test_fresh_forgets_what_up_kept_and_nothing_else(tmp_path: Path) -> None:
    data = tmp_path / "data"
    kept_by_up = ["devchain/chain.json", "ipfs/config", "dagster_home/dagster.yaml",
                  "worker/job-1/claim.json", "api/jwt_secret", "logs/up.log",
                  "postgres/PG_VERSION", "demo.json", "demo.blend", "worker.key",
                  "verifier/verify-1/asset", "verifier.key"]  # fmt: skip
    users = ["notes.txt", "scenes/shot.blend"]
    for name in kept_by_up + users:
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text("x")
    forget_state(Settings(data_dir=data, database_url="postgresql://db.internal/veriframe"))
    assert (data / "postgres" / "PG_VERSION").exists()  # an external database: untouched
    assert all((data / name).exists() for name in users)
    forget_state(Settings(data_dir=data))
    assert not [name for name in kept_by_up if (data / name).exists()]
    assert all((data / name).exists() for name in users)


def test_smoke_without_every_part_says_which_and_starts_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "VERIFRAME_DATA_DIR": str(tmp_path / "data"), "VERIFRAME_RUN_WORKER": "0"}
    result = veriframe_cli("up", "--smoke", env=env, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "needs every part" in result.stderr and "_RUN_WORKER" in result.stderr
    assert not (tmp_path / "data" / "postgres").exists()
