"""What both roles of `veriframe-worker` (the render agent and the verifier) open first: the
account's key, the API logged in as that account, IPFS within the download cap, and the
chain; each outlasting its outages as the settings say (`outlasting`)."""

from __future__ import annotations

import logging
import threading

import httpx

from render_executor.chain import ChainSubmitter
from render_executor.outlasting import OutlastingTransport
from veriframe_core.chain.target import resolve_target
from veriframe_core.ipfs import IpfsClient
from veriframe_core.login import AccountLogin
from veriframe_core.outages import Outages, RetryPolicy
from veriframe_core.settings import WorkerSettings


def worker_key(settings: WorkerSettings) -> int:
    """The account key, from the settings or the key file (never from the command line)."""
    if settings.worker_private_key is not None:
        return int(settings.worker_private_key.get_secret_value(), 16)
    if settings.worker_key_file is not None:
        return int(settings.worker_key_file.read_text().strip(), 16)
    raise SystemExit(
        "no worker key: set VERIFRAME_WORKER_PRIVATE_KEY (or WORKER_PRIVATE_KEY), or "
        "VERIFRAME_WORKER_KEY_FILE to a file holding it"
    )


def worker_address(settings: WorkerSettings) -> int:
    if not settings.worker_address:
        raise SystemExit("no worker address: set VERIFRAME_WORKER_ADDRESS (or WORKER_ADDRESS)")
    return int(settings.worker_address, 16)


def download_cap(settings: WorkerSettings) -> int:
    """Bytes at most downloaded for (and unpacked from) one job's asset."""
    return settings.worker_max_download_mb * 1024 * 1024


def retry_policy(settings: WorkerSettings) -> RetryPolicy:
    return RetryPolicy(
        settings.worker_retry_first_s,
        settings.worker_retry_max_s,
        settings.worker_outage_give_up_s,
    )


def outages(
    settings: WorkerSettings, part: str, stopping: threading.Event | None = None
) -> Outages:
    """The outages of `part` as this agent outlasts them (`stopping` ends the retries),
    logged in the agent's own log (`veriframe.worker`, or a verifier's `veriframe.verifier`)."""
    log = logging.getLogger(f"veriframe.{settings.worker_role}")
    return Outages(part, retry_policy(settings), log, stopping)


def api_client(
    settings: WorkerSettings, address: int, stopping: threading.Event | None = None
) -> httpx.Client:
    """The API, logged in as the worker account on first use (and again when refused);
    every request outlasts the API's outages (`outlasting`), until `stopping` is set."""
    url = settings.worker_api_url
    return httpx.Client(
        base_url=url,
        auth=AccountLogin(url, address, worker_key(settings), "worker"),
        timeout=30,
        transport=OutlastingTransport(outages(settings, f"The API at {url}", stopping)),
    )


def ipfs_client(settings: WorkerSettings, stopping: threading.Event | None = None) -> IpfsClient:
    """The IPFS node (and gateways), outlasting their outages until `stopping` is set."""
    return IpfsClient(
        settings.worker_ipfs_api,
        settings.worker_ipfs_gateways,
        backoff_s=settings.worker_retry_first_s,
        max_download_bytes=download_cap(settings),
        outages=outages(settings, f"IPFS at {settings.worker_ipfs_api}", stopping),
    )


def chain_submitter(
    settings: WorkerSettings, stopping: threading.Event | None = None
) -> ChainSubmitter:
    """The worker's account on the JobRegistry the settings name (or devchain's); `stopping`
    ends its retries through an outage of the chain."""
    try:
        registry = resolve_target(settings).contract
    except RuntimeError as err:
        raise SystemExit(f"veriframe-worker: {err}") from None
    return ChainSubmitter(
        settings.starknet_rpc_url,
        registry,
        worker_address(settings),
        worker_key(settings),
        outages=outages(settings, f"The chain's node at {settings.starknet_rpc_url}", stopping),
    )
