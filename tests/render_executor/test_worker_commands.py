"""`veriframe-worker register` and `veriframe-worker doctor`, run as a worker runs them,
against the platform's real parts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from starknet_py.net.account.account import Account

from tests.support.platform import WorkerPlatform, eventually
from veriframe_core.processes import free_port

WORKER = str(Path(sys.executable).parent / "veriframe-worker")
UNREGISTERED = 10
"""An account of the chain's that `Activity` leaves alone (not a creator, worker or verifier)."""


def environment(platform: WorkerPlatform, account: Account, data_dir: Path, **env: str) -> dict:
    chain = platform.chain
    return {
        **os.environ,
        "VERIFRAME_DATA_DIR": str(data_dir),
        "VERIFRAME_WORKER_API_URL": platform.api_server.url,
        "VERIFRAME_WORKER_ADDRESS": hex(account.address),
        "VERIFRAME_WORKER_PRIVATE_KEY": chain.private_key(account),
        "VERIFRAME_WORKER_IPFS_API": platform.kubo.url,
        "VERIFRAME_STARKNET_RPC_URL": chain.url,
        "VERIFRAME_JOB_REGISTRY_ADDRESS": hex(chain.registry.address),
        **env,
    }


def worker(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([WORKER, *args], env=env, capture_output=True, text=True, timeout=120)


def test_register_puts_the_account_on_chain_then_waits_for_the_operator(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    chain = platform.chain
    account = chain.accounts[UNREGISTERED]
    env = environment(platform, account, tmp_path)
    out = tmp_path / "register.out"
    with out.open("w") as stdout:
        waiting = subprocess.Popen(
            [WORKER, "register", "--poll", "0.2", "--timeout", "90"],
            env=env,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        eventually(lambda: "Waiting for the operator" in out.read_text(), timeout=90)
        verified, reputation, *_ = chain.view(chain.registry, "get_worker_status", account.address)
        assert (verified, reputation) == (False, 500)  # registered, not verified
        chain.send(chain.owner, chain.reg("verify_worker", account.address, True))
        assert waiting.wait(30) == 0, waiting.stderr.read()
    finally:
        waiting.kill()
        waiting.wait()
    said = out.read_text()
    assert f"Registered {hex(account.address)} with profile Qm" in said
    assert f"{hex(account.address)} is verified (reputation 600)" in said
    # registered already: said so, nothing sent again
    again = worker("register", "--no-wait", env=env)
    assert again.returncode == 0, again.stderr
    assert "is registered already" in again.stdout and "is verified" in again.stdout


def test_register_with_the_chain_away_fails_in_one_line(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    account = platform.chain.accounts[UNREGISTERED + 1]
    dead = f"http://127.0.0.1:{free_port()}/rpc"
    env = environment(
        platform,
        account,
        tmp_path,
        VERIFRAME_STARKNET_RPC_URL=dead,
        VERIFRAME_WORKER_RETRY_FIRST_S="0.1",
        VERIFRAME_WORKER_OUTAGE_GIVE_UP_S="1",
    )
    refused = worker("register", env=env)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    (error,) = [line for line in refused.stderr.splitlines() if "register:" in line]
    assert "Cannot connect" in error and "127.0.0.1" in error


def test_doctor_says_each_part_is_fine_for_a_verified_worker(
    platform: WorkerPlatform, tmp_path: Path
) -> None:
    env = environment(platform, platform.activity.workers[0], tmp_path)
    result = worker("doctor", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    parts = ["Blender", "Cycles devices", "API", "API login", "IPFS", "Chain", "Account"]
    assert [line.split(":")[0].split(None, 1)[1] for line in lines] == parts
    assert all(line.startswith("ok") for line in lines)
    assert "CPU" in lines[1] and "verified, reputation" in lines[-1]


def test_doctor_names_what_is_wrong_and_exits_1(platform: WorkerPlatform, tmp_path: Path) -> None:
    """The last worker is registered but not verified; its API URL and its IPFS node are
    wrong: every part is still checked, each failure one line that names it."""
    api, ipfs = (f"http://127.0.0.1:{free_port()}" for _ in range(2))
    env = environment(
        platform,
        platform.activity.workers[-1],
        tmp_path,
        VERIFRAME_WORKER_API_URL=api,
        VERIFRAME_WORKER_IPFS_API=ipfs,
    )
    result = worker("doctor", env=env)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 7 and "Traceback" not in result.stderr
    failed = {line.split(":")[0].split(None, 1)[1]: line for line in lines if line[:4] == "FAIL"}
    assert list(failed) == ["API", "API login", "IPFS", "Account"]
    assert api in failed["API"] and ipfs in failed["IPFS"]
    assert "not verified" in failed["Account"]
