"""`veriframe up`: the whole platform on one machine, stopped cleanly by Ctrl-C.

Postgres (embedded unless a URL is set) is started and migrated first; devchain, the local
IPFS node, Dagster's webserver and daemon, the API, one local worker agent and one local
verifier (on the operator's account, which the API is told is a verifier) run as children,
each started as soon as what it needs answers (the daemon runs the chain sensor,
which ingests into the warehouse URL resolved here). Each child runs in its own process
group so that one signal stops the whole tree (a background `dagster` ignores SIGTERM
otherwise). A part that dies while starting stops everything (the command exits non-zero);
once the platform is up, a part that dies is restarted (`veriframe.supervisor`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from veriframe.creator import CreatorError
from veriframe.demo import DemoScene, DemoSceneFailed
from veriframe.follow import FollowFailed
from veriframe.postgres import running_warehouse
from veriframe.supervisor import Supervisor
from veriframe_core.chain.target import operator_account
from veriframe_core.processes import (
    Child,
    ChildDied,
    answers,
    first_dead,
    listens,
    wait_until,
)
from veriframe_core.settings import Settings
from veriframe_core.warehouse.urls import DatabaseUrls, shown_url
from veriframe_dagster.dagster_home import (
    CODE_LOCATION,
    code_server_workspace,
    dagster_environment,
    prepare_dagster_home,
)

log = logging.getLogger("veriframe.up")
READY_TIMEOUT_S = 120
LOCAL_VERIFIER_POLL_S = 2
DEMO_TIMEOUT_S = 600


class StopRequested(Exception):
    """Ctrl-C (or SIGTERM) arrived while the platform was starting."""


class PortTaken(RuntimeError):
    """A port the platform needs is in use; the message names the setting that moves it."""


def _check_ports(settings: Settings) -> None:
    """Refuse to start when a port of a part we start is taken, naming its setting."""
    wanted = [
        (settings.run_devchain, settings.devchain_host, settings.devchain_port, "DEVCHAIN_PORT"),
        (settings.run_ipfs, settings.ipfs_host, settings.ipfs_port, "IPFS_PORT"),
        (settings.run_dagster, settings.dagster_host, settings.dagster_port, "DAGSTER_PORT"),
        (settings.run_api, settings.api_host, settings.api_port, "API_PORT"),
    ]
    for enabled, host, port, setting in wanted:
        if not enabled:
            continue
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                raise PortTaken(
                    f"port {port} on {host} is already in use (another `veriframe up`, or "
                    f"another program): stop it, or set VERIFRAME_{setting} to a free port"
                ) from None


@contextlib.contextmanager
def _blaming_a_dead_part(children: list[Child], grace_s: float = 2.0) -> Iterator[None]:
    """A call that fails because a part died says that part died, with its log. A killed
    process closes its sockets a moment before it can be reaped, so the refused connection
    may come first: look for the dead part for up to `grace_s`."""
    try:
        yield
    except (StopRequested, ChildDied):
        raise
    except Exception as err:
        deadline = time.monotonic() + grace_s
        while (dead := first_dead(children)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if dead is not None:
            raise ChildDied(dead.death()) from err
        raise


def _wait_for(
    check: Callable[[], object], what: str, parts: Supervisor, stopping: Callable[[], bool]
) -> None:
    def interrupt() -> None:
        if stopping():
            raise StopRequested

    waited = wait_until(
        check, what, parts.children, timeout=READY_TIMEOUT_S, interval=0.2, interrupt=interrupt
    )
    log.info("%s is ready (waited %.1f s)", what, waited)


def run_stack(settings: Settings, *, smoke: bool = False, fresh: bool = False) -> None:
    """Start everything, follow the demo job, print where it is, and wait for Ctrl-C (or a
    child's death). `smoke`: exit 0 once the demo job is paid, non-zero with the reason if
    it is not; `fresh`: forget the previous state (chain, databases, demo job) first."""
    data_dir = settings.data_dir.resolve()
    if smoke and not _can_demo(settings):
        raise SystemExit(
            "veriframe up --smoke runs the demo job, which needs every part: leave "
            "VERIFRAME_RUN_DEVCHAIN, _RUN_IPFS, _RUN_DAGSTER, _RUN_API, _RUN_WORKER and "
            "_RUN_VERIFIER on"
        )
    _check_ports(settings)  # before --fresh forgets anything: nothing is lost for nothing
    if fresh:
        forget_state(settings)
    logs = data_dir / "logs"
    stop_requested = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    def stopping() -> bool:
        return stop_requested

    def say(message: str) -> None:
        print(f"veriframe up: {message}", flush=True)

    parts = Supervisor(
        logs, max_deaths=settings.up_max_deaths, window_s=settings.up_death_window_s, say=say
    )
    exit_code = 0
    scene = DemoScene(data_dir / "demo.blend") if _can_demo(settings) else None
    try:
        with (
            running_warehouse(settings, say=lambda message: print(message, flush=True)) as urls,
            tempfile.TemporaryDirectory(prefix="veriframe-") as sockets,
        ):
            try:
                lines = _start_children(settings, urls, data_dir, Path(sockets), parts, stopping)
                print("VeriFrame is up:\n  " + "\n  ".join(lines), flush=True)
                if not smoke:
                    print("Press Ctrl-C to stop.", flush=True)
                if scene is not None:
                    _run_demo(settings, scene, parts, stopping)
                if smoke:
                    print(
                        "Smoke test passed: the demo job was rendered, verified, recorded and paid."
                    )
                else:
                    exit_code = _supervise(parts, stopping)
            except StopRequested:
                log.info("stop requested while starting; stopping what has started")
                exit_code = 1 if smoke else 0
            except (ChildDied, FollowFailed, CreatorError, DemoSceneFailed, TimeoutError) as err:
                print(f"veriframe up: {err}", file=sys.stderr, flush=True)
                exit_code = 1
            finally:
                if restarts := parts.restarts():
                    say("restarts: " + ", ".join(f"{k} {v}" for k, v in restarts.items()))
                parts.stop()
    finally:
        if scene is not None:
            scene.close()
        print("VeriFrame stopped.", flush=True)
    if exit_code:
        raise SystemExit(exit_code)


def _supervise(parts: Supervisor, stopping: Callable[[], bool]) -> int:
    """Keep the parts up until Ctrl-C (0), or until one keeps dying (PartKeepsDying)."""
    while not stopping():
        parts.check()
        time.sleep(0.5)
    return 0


def _start_children(
    settings: Settings,
    urls: DatabaseUrls,
    data_dir: Path,
    sockets: Path,
    parts: Supervisor,
    stopping: Callable[[], bool],
) -> list[str]:
    """Start the parts, each as soon as what it needs is ready: devchain, the IPFS node and
    Dagster at once (Dagster reads devchain's chain file when it first needs the chain), the
    API once the chain is up, the worker and the verifier once the API is. The lines that say
    where each is."""
    env = {**os.environ, "VERIFRAME_DATA_DIR": str(data_dir)}
    lines = [f"warehouse   {shown_url(urls.warehouse)}", f"dagster db  {shown_url(urls.dagster)}"]
    python = [sys.executable, "-m"]
    bin_dir = Path(sys.executable).parent
    chain_file = settings.resolved_devchain_state_dir.resolve() / "chain.json"
    if settings.run_devchain:
        chain_file.unlink(missing_ok=True)
        devchain = [
            "devchain",
            *("--host", settings.devchain_host, "--port", str(settings.devchain_port)),
            *("--state-dir", str(chain_file.parent)),
        ]
        parts.start("devchain", python + devchain, env)
    ipfs = settings.local_ipfs_url
    if settings.run_ipfs:
        kubo = [
            "kubonode",
            *("--host", settings.ipfs_host, "--port", str(settings.ipfs_port)),
            *("--repo", str(settings.resolved_ipfs_repo.resolve())),
        ]
        parts.start("ipfs", python + kubo, env)
        env["VERIFRAME_IPFS_API_URL"] = ipfs  # the API's health, the frame check, the agent
        env.setdefault("VERIFRAME_IPFS_GATEWAY_URL", f"{ipfs}/ipfs")
    ui = settings.local_dagster_url
    if settings.run_dagster:
        home = prepare_dagster_home(settings, urls.dagster)
        # the resolved warehouse URL, so the code server never starts its own Postgres
        dagster_env = {
            **env,
            **dagster_environment(home, urls.dagster),
            "VERIFRAME_DATABASE_URL": urls.warehouse,
        }
        code_socket = sockets / "dagster-code.sock"
        _start_code_server(dagster_env, code_socket, parts, stopping)
        workspace = ["-w", str(code_server_workspace(home, code_socket))]
        daemon = [str(bin_dir / "dagster-daemon"), "run", *workspace]
        parts.start("dagster-daemon", daemon, dagster_env, leaves_orphans=True)
        webserver = [str(bin_dir / "dagster-webserver"), "-h", settings.dagster_host]
        webserver += ["-p", str(settings.dagster_port), *workspace]
        parts.start("dagster-webserver", webserver, dagster_env)
    if settings.run_devchain:
        _wait_for(chain_file.exists, "devchain", parts, stopping)
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
        ready = functools.partial(answers, f"{ipfs}/api/v0/version", "POST")
        _wait_for(ready, "the IPFS node", parts, stopping)
        lines.append(f"IPFS        {ipfs}/api/v0 (gateway {ipfs}/ipfs)")
    if settings.run_api:
        api_env = {**env, "VERIFRAME_DATABASE_URL": urls.warehouse}
        if settings.run_devchain:
            api_env["VERIFRAME_STARKNET_RPC_URL"] = chain["rpc_url"]
        verifier = _verifier_account(settings, chain_file)
        if verifier is not None:
            verifiers = [*settings.api_verifier_addresses, hex(verifier[0])]
            api_env["VERIFRAME_API_VERIFIER_ADDRESSES"] = json.dumps(verifiers)
        uvicorn = [
            "uvicorn",
            *("api.app:create_app", "--factory"),
            *("--host", settings.api_host, "--port", str(settings.api_port)),
            *("--workers", str(settings.api_processes)),
            "--no-proxy-headers",  # the app honours `api_trusted_proxies` only
            *("--ws-ping-interval", str(settings.api_ws_ping_s)),
            *("--ws-ping-timeout", str(settings.api_ws_ping_s)),
        ]
        parts.start("api", python + uvicorn, api_env)
        api = settings.local_api_url
        _wait_for(lambda: answers(f"{api}/"), "the API", parts, stopping)
        lines.append(f"API         {api}/api/v1 (docs {api}/docs)")
        if settings.run_worker and settings.run_devchain:
            lines.append(_start_worker(settings, chain, api, env, data_dir, parts))
        if verifier is not None:
            lines.append(_start_verifier(settings, verifier, api, env, data_dir, parts))
    if settings.run_dagster:
        _wait_for(lambda: answers(f"{ui}/server_info"), "the Dagster webserver", parts, stopping)
        lines.append(f"Dagster UI  {ui}")
    return lines


def _start_code_server(
    env: dict[str, str], path: Path, parts: Supervisor, stopping: Callable[[], bool]
) -> None:
    """One code server for the webserver and the daemon, on a Unix socket in a folder of
    `up`'s own: a TCP port probed free and bound by the server later could be taken in
    between (`add_insecure_port` refused once); nothing else binds this path."""
    code = [sys.executable, "-m", "dagster", "api", "grpc", "-m", CODE_LOCATION]
    code += ["--socket", str(path), "--location-name", CODE_LOCATION]
    parts.start("dagster-code", code, env)
    _wait_for(functools.partial(listens, path), "the Dagster code server", parts, stopping)


def _start_worker(
    settings: Settings,
    chain: dict,
    api: str,
    env: dict[str, str],
    data_dir: Path,
    parts: Supervisor,
) -> str:
    """The local worker: a devchain account registered and verified (`bootstrap`), its
    agent started."""
    from veriframe.bootstrap import local_worker

    worker = local_worker(chain)
    worker_env = {
        **_agent_env(settings, env, api, worker.address, worker.private_key, data_dir, "worker"),
        "VERIFRAME_STARKNET_RPC_URL": chain["rpc_url"],
        "VERIFRAME_JOB_REGISTRY_ADDRESS": chain["job_registry_address"],
    }
    _spawn_agent("worker", worker_env, parts)
    return f"worker      {hex(worker.address)} (reputation {worker.reputation}, verified)"


def _agent_env(
    settings: Settings,
    env: dict[str, str],
    api: str,
    address: int,
    key: int,
    data_dir: Path,
    name: str,
) -> dict[str, str]:
    """The environment of a local `veriframe-worker` (`name`): the API, IPFS, and the account,
    its key in a file only this user can read."""
    key_file = data_dir / f"{name}.key"
    key_file.touch(mode=0o600)
    key_file.chmod(0o600)
    key_file.write_text(hex(key))
    return {
        **env,
        "VERIFRAME_WORKER_API_URL": api,
        "VERIFRAME_WORKER_ADDRESS": hex(address),
        "VERIFRAME_WORKER_KEY_FILE": str(key_file),
        "VERIFRAME_WORKER_IPFS_API": env.get("VERIFRAME_IPFS_API_URL", settings.worker_ipfs_api),
    }


def _spawn_agent(name: str, env: dict[str, str], parts: Supervisor) -> None:
    parts.start(name, [str(Path(sys.executable).parent / "veriframe-worker")], env)


def _verifier_account(settings: Settings, chain_file: Path) -> tuple[int, int] | None:
    """The local verifier's account (address, key): the operator's (on devchain, its owner),
    or None when no verifier is to run here."""
    if not settings.run_verifier:
        return None
    key = settings.operator_private_key
    try:
        return operator_account(
            settings.operator_address,
            key.get_secret_value() if key else None,
            settings.job_registry_address,
            chain_file,
        )
    except RuntimeError as err:
        log.warning("no local verifier: %s", err)
        return None


def _start_verifier(
    settings: Settings,
    account: tuple[int, int],
    api: str,
    env: dict[str, str],
    data_dir: Path,
    parts: Supervisor,
) -> str:
    """The local verifier: `veriframe-worker` in the verifier role on the operator's account,
    its scratch apart from the worker's."""
    address, key = account
    verifier_env = {
        # idle, it polls at most every 2 s (a claim is one cheap query), not the worker's 10 s:
        # a delivery waits for its verdict before the worker is paid
        "VERIFRAME_WORKER_POLL_S": str(LOCAL_VERIFIER_POLL_S),
        **_agent_env(settings, env, api, address, key, data_dir, "verifier"),
        "VERIFRAME_WORKER_ROLE": "verifier",
        "VERIFRAME_WORKER_SCRATCH_DIR": str(data_dir / "verifier"),
    }
    _spawn_agent("verifier", verifier_env, parts)
    return (
        f"verifier    {hex(address)} (the operator's account): every delivery is verified "
        "before the worker submits it on chain"
    )


def _can_demo(settings: Settings) -> bool:
    """The demo needs every part: devchain, IPFS, Dagster, the API, the local worker and the
    local verifier."""
    return all(
        (
            settings.run_devchain,
            settings.run_ipfs,
            settings.run_dagster,
            settings.run_api,
            settings.run_worker,
            settings.run_verifier,
        )
    )


def _run_demo(
    settings: Settings, scene: DemoScene, parts: Supervisor, stopping: Callable[[], bool]
) -> None:
    """Create the demo job (once per chain) and follow it live until it is paid."""
    import httpx

    from veriframe.demo import SettleWhenDue, demo_job
    from veriframe.follow import Dagster, follow

    chain = json.loads(settings.devchain_chain_file.read_text())
    api_url = settings.local_api_url
    ipfs = settings.local_ipfs_url
    dagster = Dagster(settings.local_dagster_url)
    with _blaming_a_dead_part(parts.children):
        job_id, created = demo_job(settings, chain, api_url, ipfs, scene)
    print(
        f"Demo job {job_id} ({'created now' if created else 'from an earlier run'}): "
        f"{dagster.partition_url(job_id)}",
        flush=True,
    )
    settle = SettleWhenDue(dagster)

    def watch(progress) -> None:
        if stopping():
            raise StopRequested
        parts.check()  # a part that dies meanwhile is restarted, the demo goes on
        try:
            settle(progress)
        except httpx.HTTPError as err:  # the webserver restarting: launched at a later look
            progress.detail = f"cannot reach Dagster: {err}"

    with httpx.Client(base_url=api_url, timeout=30) as api:
        done = follow(api, dagster, job_id, timeout_s=DEMO_TIMEOUT_S, on_tick=watch)
    print(
        "\nDemo job paid:\n"
        f"  partition   {dagster.partition_url(job_id)}\n"
        f"  run         {dagster.run_url(done.run_id) if done.run_id else '-'}\n"
        f"  image       {ipfs}/ipfs/{done.result_cid}\n"
        f"  API docs    {api_url}/docs",
        flush=True,
    )


def forget_state(settings: Settings) -> None:
    """`--fresh`: remove what earlier runs kept (embedded Postgres, devchain, IPFS, Dagster's
    home, logs, the demo job and the local worker's and verifier's keys and scratch), nothing
    else. An
    embedded server an earlier `up` left running is stopped first; an external database is
    never touched."""
    data_dir = settings.data_dir.resolve()
    forgotten = [
        settings.resolved_devchain_state_dir,
        settings.resolved_ipfs_repo,
        settings.dagster_home,
        settings.resolved_worker_scratch_dir,
        data_dir / "verifier",
        settings.api_dir,
        data_dir / "logs",
    ]
    if not settings.database_url:
        from veriframe_core.warehouse.embedded import EmbeddedPostgres  # the `local` extra

        EmbeddedPostgres(settings.postgres_dir).stop()  # nothing to do when it is not running
        forgotten.append(settings.postgres_dir)
    for path in forgotten:
        shutil.rmtree(path.expanduser().resolve(), ignore_errors=True)
    for name in ("demo.json", "demo.blend", "worker.key", "verifier.key"):
        (data_dir / name).unlink(missing_ok=True)
