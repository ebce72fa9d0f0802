"""`veriframe-worker doctor`: whether this machine can work, one line per part.

Blender, the Cycles devices, the API (and the account's login to it, which proves the key
is the account's), the IPFS node, the chain's node and the account's state on the
JobRegistry. Every check runs even when one before it failed, so one run shows all that is
wrong; the command's exit code is 1 when anything is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
from starknet_py.net.full_node_client import FullNodeClient

from render_executor.register import machine_profile
from render_executor.session import api_client, chain_submitter, worker_address
from veriframe_core.ipfs import IpfsClient
from veriframe_core.login import LoginRefused
from veriframe_core.protocol import WorkerProfileRequest
from veriframe_core.settings import WorkerSettings

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Check:
    part: str
    ok: bool
    said: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.part}: {self.said}"


def checks(settings: WorkerSettings) -> Iterator[Check]:
    """Each part's check, in the order a worker would fix them."""
    profile = _checked("Blender", machine_profile, settings)
    if isinstance(profile, Check):
        yield profile
        yield Check("Cycles devices", False, "unknown: Blender did not run")
    else:
        caps = profile.capabilities
        yield Check("Blender", True, f"{caps.blender_version} ({settings.blender_path or 'bpy'})")
        yield _devices(settings, profile)
    yield _checked("API", _api, settings)
    yield _checked("API login", _login, settings)
    yield _checked("IPFS", _ipfs, settings)
    yield _checked("Chain", _chain, settings)
    yield _checked("Account", _account, settings)


def _checked(part: str, check: Callable[[WorkerSettings], object], settings: WorkerSettings):
    """`check(settings)`; a failed Check with its one-line reason when it raises."""
    try:
        return check(settings)
    except (Exception, SystemExit) as err:  # each part's own errors; all say what happened
        return Check(part, False, str(err).splitlines()[0] if str(err) else type(err).__name__)


def _devices(settings: WorkerSettings, profile: WorkerProfileRequest) -> Check:
    devices = profile.capabilities.devices or []
    wanted = settings.worker_device.upper()
    if not devices:
        return Check("Cycles devices", False, f"none offered (VERIFRAME_WORKER_DEVICE={wanted})")
    gpu = "" if devices != ["CPU"] else " (no GPU found: CPU only)"
    return Check("Cycles devices", True, ", ".join(devices) + gpu)


def _api(settings: WorkerSettings) -> Check:
    url = settings.worker_api_url
    try:
        answer = httpx.get(f"{url.rstrip('/')}/health", timeout=TIMEOUT_S)
    except httpx.HTTPError as err:
        return Check("API", False, f"{url} unreachable ({err}): check VERIFRAME_WORKER_API_URL")
    if answer.status_code != 200:
        return Check("API", False, f"{url}/health answered {answer.status_code}")
    return Check("API", True, f"{url} ({answer.json().get('status', 'answering')})")


def _login(settings: WorkerSettings) -> Check:
    address = worker_address(settings)
    with api_client(settings, address) as api:
        try:
            answer = api.get("/api/v1/jobs/claimed")
        except (LoginRefused, httpx.HTTPError) as err:
            return Check("API login", False, f"{hex(address)}: {err}")
    if answer.status_code != 200:
        return Check("API login", False, f"{hex(address)}: answered {answer.status_code}")
    return Check("API login", True, f"logged in as {hex(address)} (the key is the account's)")


def _ipfs(settings: WorkerSettings) -> Check:
    with IpfsClient(settings.worker_ipfs_api, attempts=2, timeout_s=TIMEOUT_S) as ipfs:
        return Check("IPFS", True, f"{settings.worker_ipfs_api} (Kubo {ipfs.version()})")


def _chain(settings: WorkerSettings) -> Check:
    client = FullNodeClient(node_url=settings.starknet_rpc_url)
    block = asyncio.run(asyncio.wait_for(client.get_block_number(), TIMEOUT_S))
    return Check("Chain", True, f"{settings.starknet_rpc_url} (block {block})")


def _account(settings: WorkerSettings) -> Check:
    chain = chain_submitter(settings)
    status = chain.status()
    account = f"{hex(chain.address)} on JobRegistry {hex(chain.registry)}"
    if not status.registered:
        return Check("Account", False, f"{account}: not registered (`veriframe-worker register`)")
    if not status.verified:
        return Check("Account", False, f"{account}: registered, not verified by the operator yet")
    return Check("Account", True, f"{account}: verified, reputation {status.reputation}")
