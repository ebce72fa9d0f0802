"""What both roles of `veriframe-worker` (the render agent and the verifier) open first: the
account's key, the API logged in as that account, and IPFS within the download cap."""

from __future__ import annotations

import httpx

from veriframe_core.ipfs import IpfsClient
from veriframe_core.login import AccountLogin
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


def api_client(settings: WorkerSettings, address: int) -> httpx.Client:
    """The API, logged in as the worker account on first use (and again when refused)."""
    return httpx.Client(
        base_url=settings.worker_api_url,
        auth=AccountLogin(settings.worker_api_url, address, worker_key(settings), "worker"),
        timeout=30,
    )


def ipfs_client(settings: WorkerSettings) -> IpfsClient:
    return IpfsClient(
        settings.worker_ipfs_api,
        settings.worker_ipfs_gateways,
        max_download_bytes=download_cap(settings),
    )
