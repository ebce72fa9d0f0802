"""`veriframe up`: the whole platform on one machine, stopped cleanly by Ctrl-C.

Postgres (embedded unless a URL is set) is started and migrated first; devchain, the local
IPFS node, Dagster's webserver and daemon, the API and one local worker agent run as
children, each started once the one before is ready (the daemon runs the chain sensor,
which ingests into the warehouse URL resolved here). Each child runs in its own process
group so that one signal stops the whole tree (a background `dagster` ignores SIGTERM
otherwise). If a child dies, everything is stopped and the command exits non-zero.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from veriframe.postgres import running_warehouse
from veriframe_core.settings import Settings
from veriframe_core.warehouse.urls import DatabaseUrls, shown_url
from veriframe_dagster.dagster_home import dagster_environment, prepare_dagster_home

log = logging.getLogger("veriframe.up")
READY_TIMEOUT_S = 120


@dataclass
class Child:
    """A supervised child process running in its own process group."""

    name: str
    proc: subprocess.Popen

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the whole group (grandchildren too, e.g. Dagster's code servers)."""
        self._signal_group(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning(
                "%s did not stop within %.0f s; killing its process group", self.name, timeout
            )
            self._signal_group(signal.SIGKILL)
            self.proc.wait()

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # the whole group is already gone
            os.killpg(self.proc.pid, sig)


def _spawn(name: str, argv: list[str], env: dict[str, str], logs: Path) -> Child:
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    with log_path.open("ab") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    log.info("started %s (pid %d), log %s", name, proc.pid, log_path)
    return Child(name, proc)


class StopRequested(Exception):
    """Ctrl-C (or SIGTERM) arrived while the platform was starting."""


def _wait_for(check, what: str, children: list[Child], stopping) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if stopping():
            raise StopRequested
        for child in children:
            if not child.alive():
                raise RuntimeError(
                    f"{child.name} exited with code {child.proc.returncode} "
                    f"while waiting for {what}; see its log"
                )
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} was not ready within {READY_TIMEOUT_S} s")


def _http_ok(url: str, method: str = "GET") -> bool:
    import httpx

    try:
        return httpx.request(method, url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def run_stack(settings: Settings) -> None:
    """Start everything, print where it is, and wait for Ctrl-C (or a child's death)."""
    data_dir = settings.data_dir.resolve()
    logs = data_dir / "logs"
    stop_requested = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    def stopping() -> bool:
        return stop_requested

    children: list[Child] = []
    exit_code = 0
    try:
        with running_warehouse(settings, say=lambda message: print(message, flush=True)) as urls:
            try:
                lines = _start_children(settings, urls, data_dir, logs, children, stopping)
                print(
                    "VeriFrame is up:\n  " + "\n  ".join(lines) + "\nPress Ctrl-C to stop.",
                    flush=True,
                )
                exit_code = _supervise(children, stopping)
            except StopRequested:
                log.info("stop requested while starting; stopping what has started")
            finally:
                for child in reversed(children):
                    child.stop()
    finally:
        print("VeriFrame stopped.", flush=True)
    if exit_code:
        raise SystemExit(exit_code)


def _supervise(children: list[Child], stopping: Callable[[], bool]) -> int:
    """Wait for Ctrl-C (0) or a child's death (1)."""
    while not stopping():
        dead = [c for c in children if not c.alive()]
        if dead:
            log.error(
                "%s exited with code %s; stopping the platform",
                dead[0].name,
                dead[0].proc.returncode,
            )
            return 1
        time.sleep(0.5)
    return 0


def _start_children(
    settings: Settings,
    urls: DatabaseUrls,
    data_dir: Path,
    logs: Path,
    children: list[Child],
    stopping: Callable[[], bool],
) -> list[str]:
    """Start devchain, Dagster and the API in order, each once the one before is ready;
    the lines that say where each is."""
    env = {**os.environ, "VERIFRAME_DATA_DIR": str(data_dir)}
    lines = [f"warehouse   {shown_url(urls.warehouse)}", f"dagster db  {shown_url(urls.dagster)}"]
    if settings.run_devchain:
        state_dir = settings.resolved_devchain_state_dir.resolve()
        chain_file = state_dir / "chain.json"
        chain_file.unlink(missing_ok=True)
        children.append(
            _spawn(
                "devchain",
                [
                    sys.executable,
                    "-m",
                    "devchain",
                    "--host",
                    settings.devchain_host,
                    "--port",
                    str(settings.devchain_port),
                    "--state-dir",
                    str(state_dir),
                ],
                env,
                logs,
            )
        )
        _wait_for(chain_file.exists, "devchain", children, stopping)
        chain = json.loads(chain_file.read_text())
        lines += [
            f"devchain    {chain['rpc_url']} (chain {chain['chain_id_name']})",
            f"JobRegistry {chain['job_registry_address']}",
            f"token       {chain['token_address']}",
            f"accounts    {len(chain['accounts'])} funded, keys in {chain_file}",
        ]
    else:
        lines.append(f"StarkNet    {settings.starknet_rpc_url} (external node)")
    if settings.run_ipfs:
        ipfs = f"http://{settings.ipfs_host}:{settings.ipfs_port}"
        children.append(
            _spawn(
                "ipfs",
                [
                    sys.executable,
                    "-m",
                    "kubonode",
                    "--host",
                    settings.ipfs_host,
                    "--port",
                    str(settings.ipfs_port),
                    "--repo",
                    str(settings.resolved_ipfs_repo.resolve()),
                ],
                env,
                logs,
            )
        )
        _wait_for(
            lambda: _http_ok(f"{ipfs}/api/v0/version", "POST"), "the IPFS node", children, stopping
        )
        env["VERIFRAME_IPFS_API_URL"] = ipfs  # the API's health, the frame check, the agent
        env.setdefault("VERIFRAME_IPFS_GATEWAY_URL", f"{ipfs}/ipfs")
        lines.append(f"IPFS        {ipfs}/api/v0 (gateway {ipfs}/ipfs)")
    if settings.run_dagster:
        home = prepare_dagster_home(settings, urls.dagster)
        # the resolved warehouse URL, so the code server never starts its own Postgres
        dagster_env = {
            **env,
            **dagster_environment(home, urls.dagster),
            "VERIFRAME_DATABASE_URL": urls.warehouse,
        }
        bin_dir = Path(sys.executable).parent
        children.append(
            _spawn(
                "dagster-daemon",
                [
                    str(bin_dir / "dagster-daemon"),
                    "run",
                    "-m",
                    "veriframe_dagster.definitions",
                ],
                dagster_env,
                logs,
            )
        )
        children.append(
            _spawn(
                "dagster-webserver",
                [
                    str(bin_dir / "dagster-webserver"),
                    "-h",
                    settings.dagster_host,
                    "-p",
                    str(settings.dagster_port),
                    "-m",
                    "veriframe_dagster.definitions",
                ],
                dagster_env,
                logs,
            )
        )
        ui = f"http://{settings.dagster_host}:{settings.dagster_port}"
        _wait_for(
            lambda: _http_ok(f"{ui}/server_info"),
            "the Dagster webserver",
            children,
            stopping,
        )
        lines.append(f"Dagster UI  {ui}")
    if settings.run_api:
        api_env = {**env, "VERIFRAME_DATABASE_URL": urls.warehouse}
        if settings.run_devchain:
            api_env["VERIFRAME_STARKNET_RPC_URL"] = chain["rpc_url"]
        children.append(
            _spawn(
                "api",
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "api.app:create_app",
                    "--factory",
                    "--host",
                    settings.api_host,
                    "--port",
                    str(settings.api_port),
                    "--workers",
                    str(settings.api_processes),
                    "--ws-ping-interval",
                    str(settings.api_ws_ping_s),
                    "--ws-ping-timeout",
                    str(settings.api_ws_ping_s),
                ],
                api_env,
                logs,
            )
        )
        api = f"http://{settings.api_host}:{settings.api_port}"
        _wait_for(lambda: _http_ok(f"{api}/"), "the API", children, stopping)
        lines.append(f"API         {api}/api/v1 (docs {api}/docs)")
        if settings.run_worker and settings.run_devchain:
            lines.append(_start_worker(settings, chain, api, env, data_dir, logs, children))
    return lines


def _start_worker(
    settings: Settings,
    chain: dict,
    api: str,
    env: dict[str, str],
    data_dir: Path,
    logs: Path,
    children: list[Child],
) -> str:
    """The local worker: a devchain account registered and verified (`bootstrap`), its
    agent started with the key in a file only this user can read."""
    from veriframe.bootstrap import local_worker

    worker = local_worker(chain)
    key_file = data_dir / "worker.key"
    key_file.touch(mode=0o600)
    key_file.chmod(0o600)
    key_file.write_text(hex(worker.private_key))
    worker_env = {
        **env,
        "VERIFRAME_WORKER_API_URL": api,
        "VERIFRAME_WORKER_ADDRESS": hex(worker.address),
        "VERIFRAME_WORKER_KEY_FILE": str(key_file),
        "VERIFRAME_WORKER_IPFS_API": env.get("VERIFRAME_IPFS_API_URL", settings.worker_ipfs_api),
        "VERIFRAME_STARKNET_RPC_URL": chain["rpc_url"],
        "VERIFRAME_JOB_REGISTRY_ADDRESS": chain["job_registry_address"],
    }
    children.append(
        _spawn("worker", [str(Path(sys.executable).parent / "veriframe-worker")], worker_env, logs)
    )
    return f"worker      {hex(worker.address)} (reputation {worker.reputation}, verified)"
