"""The creator's commands as a creator on another machine runs them: `veriframe` with only
the platform's URL (`VERIFRAME_URL`), an account address and a key file, in its own process,
against a platform started for the test (real API, IPFS node, devchain, worker agent and
verifier). No database URL, Kubo RPC or Dagster is given to the commands.

Each failure is one line on stderr, no traceback, and its exit status (`veriframe.exits`)."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from starknet_py.net.account.account import Account

from kubonode.process import KuboProcess
from tests.render_executor.conftest import OUTSIDE as OUTSIDE_SCENES
from tests.support.api import ApiServer, api_settings
from tests.support.blender import blender_python
from tests.support.chain import Driver
from tests.support.platform import WorkerPlatform, eventually, veriframe_cli, worker_platform
from veriframe.creator import upload_through_api
from veriframe.exits import IpfsFailed
from veriframe.follow import FollowFailed, follow
from veriframe_core.ipfs import IpfsClient
from veriframe_core.processes import free_port
from veriframe_core.warehouse.embedded import EmbeddedPostgres

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture(scope="module")
def creator_platform(
    chain: Driver,
    embedded_pg: EmbeddedPostgres,
    kubo: KuboProcess,
    demo_scene: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerPlatform]:
    """The platform, its API taking uploads into its IPFS node and naming the reward token,
    the chain ingested in the background as the chain sensor would."""
    with worker_platform(
        chain,
        embedded_pg,
        kubo,
        demo_scene,
        tmp_path_factory.mktemp("verifier"),
        ipfs_api_url=kubo.url,
        token_address=hex(chain.token.address),
    ) as platform:
        stop = threading.Event()

        def index() -> None:
            while not stop.wait(0.3):
                platform.ingest()

        indexer = threading.Thread(target=index, daemon=True, name="indexer")
        indexer.start()
        yield platform
        stop.set()
        indexer.join(30)


def remote_env(tmp_path: Path, url: str, account: Account | None, chain: Driver | None) -> dict:
    """The environment of a creator's machine: no VERIFRAME_ variable but the URL and the
    account (its key in a file only its owner reads), a data folder of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIFRAME_")}
    env |= {"VERIFRAME_DATA_DIR": str(tmp_path / "home"), "VERIFRAME_URL": url}
    if account is not None and chain is not None:
        key_file = tmp_path / "creator.key"
        key_file.write_text(chain.private_key(account))
        key_file.chmod(0o600)
        env |= {
            "VERIFRAME_CREATOR_ADDRESS": hex(account.address),
            "VERIFRAME_CREATOR_KEY_FILE": str(key_file),
        }
    return env


def one_line_failure(result: subprocess.CompletedProcess, command: str, code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"veriframe {command}: "), result.stderr
    return lines[0]


# ------------------------------------------------------------------ without a platform
@pytest.mark.parametrize(
    "command", [["status", "7"], ["status"], ["jobs", "--creator", "0x1"], ["download", "7"]]
)
def test_a_platform_that_cannot_be_reached_is_one_line_and_status_3(
    command: list[str], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = veriframe_cli(*command, env=remote_env(tmp_path, url, None, None), timeout=60)
    line = one_line_failure(result, command[0], 3)
    assert f"the platform at {url}" in line and "VERIFRAME_URL" in line


def test_a_missing_key_file_is_a_bad_input(tmp_path: Path) -> None:
    env = remote_env(tmp_path, f"http://127.0.0.1:{free_port()}", None, None)
    env |= {
        "VERIFRAME_CREATOR_ADDRESS": "0x1234",
        "VERIFRAME_CREATOR_KEY_FILE": str(tmp_path / "nowhere.key"),
    }
    result = veriframe_cli("rate", "1", "90", env=env, timeout=60)
    assert "nowhere.key cannot be read" in one_line_failure(result, "rate", 2)


def test_a_file_that_is_not_a_blend_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    fake = tmp_path / "scene.blend"
    fake.write_bytes(PNG)
    env = remote_env(tmp_path, f"http://127.0.0.1:{free_port()}", None, None)
    env |= {"VERIFRAME_CREATOR_ADDRESS": "0x1234", "VERIFRAME_CREATOR_PRIVATE_KEY": "0x5678"}
    result = veriframe_cli("submit", str(fake), env=env, timeout=120)
    line = one_line_failure(result, "submit", 2)
    assert "neither a Blender file nor a zip or tar archive" in line


def test_a_scene_reading_files_outside_its_folder_is_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    blender_python(OUTSIDE_SCENES, tmp_path / "scenes")
    env = remote_env(tmp_path, f"http://127.0.0.1:{free_port()}", None, None)
    env |= {"VERIFRAME_CREATOR_ADDRESS": "0x1234", "VERIFRAME_CREATOR_PRIVATE_KEY": "0x5678"}
    scene = tmp_path / "scenes" / "job" / "library.blend"
    result = veriframe_cli("submit", str(scene), env=env, timeout=120)
    line = one_line_failure(result, "submit", 2)
    assert "links libraries outside the job's folder" in line and "outside/lib.blend" in line


def as_a_terminal_starts_it() -> None:
    """Ctrl-C delivered: a test run started in the background inherits SIGINT ignored, and
    a CI harness may start it with SIGINT blocked; a terminal does neither."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_ctrl_c_is_one_line_and_status_130(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        silent.settimeout(60)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        process = subprocess.Popen(
            [sys.executable, "-m", "veriframe.cli", "status", "7"],
            env=remote_env(tmp_path, url, None, None),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=as_a_terminal_starts_it,
        )
        connection, _ = silent.accept()  # the command now waits for an answer
        with connection:
            signals = Path(f"/proc/{process.pid}/status").read_text()
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)  # past the client's own 30 s timeout
    assert process.returncode == 130, (stderr, signals)
    assert stderr.strip() == "veriframe status: interrupted"


def test_a_file_over_the_platforms_cap_is_refused_before_a_byte_is_sent(tmp_path: Path) -> None:
    scene = tmp_path / "scene.blend"
    scene.write_bytes(b"BLENDER" + b"\0" * 100)
    cap = r"107 bytes, over the platform's upload cap of 100"
    with (
        httpx.Client(base_url=f"http://127.0.0.1:{free_port()}") as nobody_listens,
        pytest.raises(IpfsFailed, match=cap),
    ):
        upload_through_api(nobody_listens, scene, max_bytes=100)


# ------------------------------------------------------------------ against a platform
def test_a_scene_goes_from_submit_to_a_downloaded_verified_frame_through_the_url_only(
    creator_platform: WorkerPlatform, tmp_path: Path
) -> None:
    platform = creator_platform
    creator = platform.activity.creators[2]  # submit's approve() would reset post_job's allowance
    env = remote_env(tmp_path, platform.api_server.url, creator, platform.chain)
    submit = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "veriframe.cli",
            "submit",
            str(platform.demo_scene),
            "--reward",
            "1000",
            "--timeout",
            "300",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = platform.activity.workers[0]
    with platform.agent(worker, tmp_path / "worker") as agent:
        job_id = eventually(lambda: _created(platform), timeout=180)
        (outcome,) = agent.run(once=True)
    assert outcome.completed and outcome.job_id == job_id, outcome
    stdout, stderr = submit.communicate(timeout=300)
    assert submit.returncode == 0, stderr
    assert "rendering frame 1 at 320x240, 16 samples, CYCLES" in stdout  # the scene's own
    assert f"job {job_id} verified" in stdout

    status = veriframe_cli("status", str(job_id), "--json", env=env)
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert document["verification"]["state"] == "verified"
    assert document["render_settings"]["resolution_x"] == 320
    assert document["outlook"]["renderable"] is True

    mine = veriframe_cli("jobs", "--json", env=env)
    assert mine.returncode == 0, mine.stderr
    listed = {job["job_id"]: job for job in json.loads(mine.stdout)}
    assert listed[job_id]["verification"]["state"] == "verified"

    downloaded = veriframe_cli("download", str(job_id), str(tmp_path / "frames"), env=env)
    assert downloaded.returncode == 0, downloaded.stderr
    (frame,) = (tmp_path / "frames").iterdir()
    assert frame.name == f"job-{job_id}-{outcome.result_cid}.png"
    with IpfsClient(platform.kubo.url) as ipfs:
        assert frame.read_bytes() == ipfs.cat(outcome.result_cid)

    unpaid = veriframe_cli("rate", str(job_id), "90", env=env)
    assert "only a paid job can be rated" in one_line_failure(unpaid, "rate", 1)


def _created(platform: WorkerPlatform) -> int | None:
    """The newest job, once the API has its render settings (the creator attached them)."""
    page = platform.api.get("/api/v1/jobs", params={"limit": 1}).json()["items"]
    if not page:
        return None
    job = platform.api.get(f"/api/v1/jobs/{page[0]['job_id']}").json()
    return job["job_id"] if job["render_settings"]["custom"] else None


def test_a_job_no_worker_can_render_is_reported_failed_with_the_reasons(
    creator_platform: WorkerPlatform, tmp_path: Path
) -> None:
    platform = creator_platform
    job_id = platform.post_job(platform.upload(PNG), indexed_by="the indexer")
    with platform.agent(platform.activity.workers[1], tmp_path / "worker") as agent:
        (outcome,) = agent.run(once=True)
        assert outcome.job_id == job_id and not outcome.completed
        shown = io.StringIO()
        with pytest.raises(FollowFailed, match="did not reach 'finalized'"):  # still renderable
            follow(platform.api, None, job_id, timeout_s=2, console=Console(file=shown, width=200))
        line = r"✗ attempt 1 by 0x\w+… failed: the asset was refused: neither a Blender file"
        assert re.search(line, shown.getvalue()), shown.getvalue()  # shown at once
        for _ in range(2):
            (outcome,) = agent.run(once=True)
            assert outcome.job_id == job_id and not outcome.completed
    started = time.monotonic()
    with pytest.raises(FollowFailed, match=r"3 attempts failed .*neither a Blender file"):
        follow(platform.api, None, job_id, until="verified", timeout_s=60)
    assert time.monotonic() - started < 5  # at once, not at the timeout

    env = remote_env(tmp_path, platform.api_server.url, None, None)
    status = veriframe_cli("status", str(job_id), env=env)
    assert status.returncode == 0, status.stderr
    assert re.search(rf"FAILED +job {job_id} failed: 3 attempts failed", status.stdout)
    assert status.stdout.count("neither a Blender file") >= 3  # each attempt with its reason

    frame = veriframe_cli("download", str(job_id), env=env)
    assert "has no verified frame" in one_line_failure(frame, "download", 7)


@pytest.mark.parametrize(
    ("change", "code", "said"),
    [
        ({"VERIFRAME_CREATOR_IPFS_API": "http://127.0.0.1:9"}, 4, "your IPFS node at"),
        ({"VERIFRAME_STARKNET_RPC_URL": "http://127.0.0.1:9/rpc"}, 5, "cannot be reached"),
        ({"REWARD": "100000000000"}, 6, "holds"),
    ],
    ids=["ipfs-down", "chain-down", "balance"],
)
def test_submit_fails_in_one_line_with_the_status_of_what_failed(
    creator_platform: WorkerPlatform, tmp_path: Path, change: dict, code: int, said: str
) -> None:
    platform = creator_platform
    env = remote_env(
        tmp_path, platform.api_server.url, platform.activity.creators[1], platform.chain
    )
    reward = change.pop("REWARD", "1")
    env |= change
    result = veriframe_cli(
        "submit", str(platform.demo_scene), "--reward", reward, "--no-wait", env=env
    )
    assert said in one_line_failure(result, "submit", code)


@pytest.mark.parametrize(
    ("down", "code", "said"),
    [
        ("ipfs_api_url", 4, "the platform did not take the upload: .*unreachable"),
        ("starknet_rpc_url", 5, "login refused \\(503\\): cannot reach the StarkNet node"),
    ],
    ids=["ipfs", "chain"],
)
def test_submit_with_a_part_of_the_platform_down_is_the_status_of_that_part(
    creator_platform: WorkerPlatform, tmp_path: Path, down: str, code: int, said: str
) -> None:
    platform, chain = creator_platform, creator_platform.chain
    settings = api_settings(
        chain, token_address=hex(chain.token.address), **{down: "http://127.0.0.1:9"}
    )
    server = ApiServer(settings, platform.warehouse).start()  # nothing listens at :9
    try:
        env = remote_env(tmp_path, server.url, platform.activity.creators[1], chain)
        result = veriframe_cli("submit", str(platform.demo_scene), "--no-wait", env=env)
    finally:
        server.stop()
    assert re.search(said, one_line_failure(result, "submit", code))
