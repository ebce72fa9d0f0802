"""`veriframe-worker register`: the account becomes a worker on chain, then waits for the
operator's verification, saying where it stands.

The machine's profile (what `detect` finds: Blender, Cycles devices, GPU) goes to IPFS, and
`register_worker` takes its CID (as far as one felt holds it: its first 31 characters). An
account registered already is not registered again. Only the JobRegistry's owner verifies a
worker (`verify_worker`); until then the API lets the account claim nothing, so the command
waits, reading the account's status, and ends when it is verified (or at `--timeout`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from render_executor.blender.runner import BlenderRunner, RenderFailed
from render_executor.capabilities import detect
from render_executor.chain import ChainSubmitter
from render_executor.session import chain_submitter, ipfs_client
from veriframe_core.chain.views import WorkerStatus
from veriframe_core.ipfs import IpfsError
from veriframe_core.protocol import WorkerProfileRequest
from veriframe_core.settings import WorkerSettings


class RegisterFailed(Exception):
    """Registration could not go on; the message says why and what to do."""


def machine_profile(settings: WorkerSettings) -> WorkerProfileRequest:
    """This machine's profile (runs Blender once)."""
    probe = settings.resolved_worker_scratch_dir / "probe"
    try:
        return detect(BlenderRunner(settings.blender_path), probe, settings.worker_device)
    except RenderFailed as err:
        raise RegisterFailed(f"Blender does not work here: {err}") from None


def register(
    settings: WorkerSettings,
    say: Callable[[str], None],
    *,
    wait: bool = True,
    timeout_s: float | None = None,
    poll_s: float = 5.0,
) -> bool:
    """Register the account (unless it is) and, with `wait`, wait until it is verified;
    whether it is verified."""
    chain = chain_submitter(settings)
    account = hex(chain.address)
    status = chain.status()
    if status.registered:
        say(f"{account} is registered already (reputation {status.reputation})")
    else:
        cid = _profile_cid(settings)
        tx = chain.register_worker(cid)
        say(f"Registered {account} with profile {cid} (transaction {hex(tx)})")
        status = chain.status()
    if status.verified:
        say(f"{account} is verified (reputation {status.reputation}): start `veriframe-worker`")
        return True
    if not wait:
        say(f"{account} is not verified yet: the operator verifies it (`verify_worker`)")
        return False
    say(
        f"Waiting for the operator to verify {account} (`verify_worker` on the JobRegistry); "
        "Ctrl-C stops waiting, the registration stays"
    )
    status = _verified(chain, timeout_s, poll_s)
    if status is None:
        say(f"{account} was not verified within {timeout_s:g} s; run `register` again to wait")
        return False
    say(f"{account} is verified (reputation {status.reputation}): start `veriframe-worker`")
    return True


def _profile_cid(settings: WorkerSettings) -> str:
    profile = machine_profile(settings).model_dump_json(exclude_unset=True)
    try:
        with ipfs_client(settings) as ipfs:
            return ipfs.add_bytes(profile.encode())
    except IpfsError as err:
        raise RegisterFailed(f"the profile could not be added to IPFS: {err}") from None


def _verified(chain: ChainSubmitter, timeout_s: float | None, poll_s: float) -> WorkerStatus | None:
    """The account's status once verified; None at the timeout."""
    ends = None if timeout_s is None else time.monotonic() + timeout_s
    while not (status := chain.status()).verified:
        left = poll_s if ends is None else min(poll_s, ends - time.monotonic())
        if left <= 0:
            return None
        time.sleep(left)
    return status
