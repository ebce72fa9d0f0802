"""What a creator does, from any machine, with the platform's public URL and a key file: read
the chain the platform follows from its API (`GET /api/v1/network`), upload the scene through
the API (or to the creator's own IPFS node), escrow the reward on chain (`approve` and
`create_job_with_requirements` in one transaction), attach the render settings through the
API (signed in with the same key), download the verified frame, and rate the worker.

The account: `creator_address` with `creator_key_file` (or `creator_private_key`); on the
machine of a local devchain with neither set, the chain file's first funded account
(account 0 is the owner).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from starknet_py.contract import Contract
from starknet_py.net.client_errors import ClientError
from starknet_py.net.full_node_client import FullNodeClient
from starknet_py.transaction_errors import TransactionFailedError

from veriframe.exits import (
    ApiUnavailable,
    BadInput,
    ChainFailed,
    CreatorError,
    IpfsFailed,
    JobFailed,
    NotEnoughTokens,
)
from veriframe_core.chain.accounts import contract_as
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.chain.events import event_codec
from veriframe_core.ipfs import IpfsClient, IpfsError
from veriframe_core.login import AccountLogin, LoginRefused
from veriframe_core.protocol import error_message
from veriframe_core.settings import Settings

CHUNK = 1 << 20
T = TypeVar("T")


def key_from_file(path: Path) -> int:
    """The private key (hex) a key file holds; BadInput when it is missing or holds none."""
    try:
        text = path.read_text().strip()
        return int(text, 16)
    except OSError as err:
        raise BadInput(f"the key file {path} cannot be read ({err.strerror})") from None
    except ValueError:
        raise BadInput(f"the key file {path} does not hold a hex private key") from None


@dataclass(frozen=True)
class CreatorAccount:
    address: int
    private_key: int

    @classmethod
    def from_settings(cls, settings: Settings) -> CreatorAccount:
        address = settings.creator_address
        if settings.creator_key_file is not None:
            key: int | None = key_from_file(settings.creator_key_file)
        elif settings.creator_private_key is not None:
            key = int(settings.creator_private_key.get_secret_value(), 16)
        else:
            key = None
        if address and key is not None:
            return cls(int(address, 16), key)
        if settings.devchain_chain_file.exists() and not (address or key):
            funded = json.loads(settings.devchain_chain_file.read_text())["accounts"][1]
            return cls(int(funded["address"], 16), int(funded["private_key"], 16))
        raise BadInput(
            "no creator account: set VERIFRAME_CREATOR_ADDRESS and VERIFRAME_CREATOR_KEY_FILE "
            "(a file holding the account's private key)"
        )


@dataclass(frozen=True)
class Network:
    """The chain the platform follows, as its API says (a setting set here wins)."""

    rpc_url: str
    registry: int
    token: int
    max_upload_bytes: int

    @classmethod
    def read(cls, api: httpx.Client, settings: Settings) -> Network:
        said = call_api(api, "GET", "/api/v1/network").json()
        overrides = {"starknet_rpc_url", "job_registry_address", "token_address"}
        mine = {
            name: value
            for name, value in settings.model_dump(include=overrides).items()
            if name in settings.model_fields_set and value
        }
        token = mine.get("token_address", said["token_address"])
        rpc_url = mine.get("starknet_rpc_url", said["rpc_url"])
        if not rpc_url:
            raise CreatorError(
                "the platform publishes no StarkNet RPC URL: set VERIFRAME_STARKNET_RPC_URL "
                "(a node of the chain it follows)"
            )
        if not token:
            raise CreatorError(
                "the platform does not say which reward token it escrows: set "
                "VERIFRAME_TOKEN_ADDRESS"
            )
        return cls(
            rpc_url,
            int(mine.get("job_registry_address", said["job_registry_address"]), 16),
            int(token, 16),
            said["max_upload_bytes"],
        )


def send(api: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request to the platform, whatever it answers; ApiUnavailable when it cannot be
    reached, `login_failure` when it refuses the login."""
    try:
        return api.request(method, path, **kwargs)
    except LoginRefused as err:
        raise login_failure(err) from None
    except httpx.TransportError as err:
        raise unreachable(api, err) from None


def login_failure(err: LoginRefused) -> CreatorError:
    """A refused login by its kind: the chain, when the API cannot check the signature on it
    (503); the platform, when it failed; else the account (a key that does not match it)."""
    if err.status_code == 503:
        return ChainFailed(str(err))
    return (ApiUnavailable if err.status_code >= 500 else CreatorError)(str(err))


def unreachable(api: httpx.Client, err: httpx.TransportError) -> ApiUnavailable:
    where = str(api.base_url).rstrip("/")
    return ApiUnavailable(
        f"the platform at {where} is not reachable ({type(err).__name__}): check --url / "
        "VERIFRAME_URL, or start it (`./dev up`)"
    )


def checked(answer: httpx.Response) -> httpx.Response:
    """`answer` if it is a success; ApiUnavailable for a failure of the platform (5xx),
    CreatorError with the API's own message for a refusal (4xx)."""
    request = answer.request
    if answer.status_code >= 500:
        raise ApiUnavailable(f"the platform at {request.url.host} failed: {error_message(answer)}")
    if answer.status_code >= 400:
        what = f"{request.method} {request.url.path}"
        raise CreatorError(f"the platform refused {what}: {error_message(answer)}")
    return answer


def call_api(api: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """`send`, then `checked`."""
    return checked(send(api, method, path, **kwargs))


def progress_bar() -> Progress:
    """Bytes moved, speed and time left, on stderr (stdout stays for `--json`)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def _chunks(path: Path, advance: Callable[[int], Any]) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            advance(len(chunk))
            yield chunk


def upload_through_api(api: httpx.Client, path: Path, max_bytes: int) -> str:
    """Stream the file to the platform's IPFS node (`POST /api/v1/assets`), with a progress
    bar; its CID. A file over the platform's cap is refused before a byte is sent."""
    size = path.stat().st_size
    if size > max_bytes:
        raise IpfsFailed(
            f"{path} is {size:,} bytes, over the platform's upload cap of {max_bytes:,}: "
            "add it to your own IPFS node (VERIFRAME_CREATOR_IPFS_API)"
        )
    with progress_bar() as bar:
        task = bar.add_task(f"uploading {path.name}", total=size)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        try:
            answer = api.post(
                "/api/v1/assets",
                content=_chunks(path, lambda n: bar.advance(task, n)),
                headers=headers,
                timeout=httpx.Timeout(30, read=600),
            )
        except httpx.TransportError as err:
            raise unreachable(api, err) from None
        except LoginRefused as err:
            raise login_failure(err) from None
    if answer.status_code in (413, 503):
        raise IpfsFailed(f"the platform did not take the upload: {error_message(answer)}")
    if answer.status_code != 200:
        raise CreatorError(f"the platform refused the upload: {error_message(answer)}")
    return answer.json()["cid"]


def upload_to_own_node(ipfs_api: str, path: Path) -> str:
    """Add and pin the file on the creator's own IPFS node; its CID."""
    try:
        with IpfsClient(ipfs_api, attempts=2) as ipfs:
            return ipfs.add(path)
    except (IpfsError, ValueError) as err:
        raise IpfsFailed(f"your IPFS node at {ipfs_api}: {err}") from None


def download_frame(api: httpx.Client, job_id: int, folder: Path) -> Path:
    """The job's verified frame into `folder` (written whole or not at all), with a progress
    bar; its path. JobFailed when the job has no verified frame."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with api.stream("GET", f"/api/v1/jobs/{job_id}/frame", timeout=60) as answer:
            if answer.status_code == 409:
                answer.read()
                raise JobFailed(error_message(answer))
            if answer.status_code == 404:
                answer.read()
                raise CreatorError(f"job {job_id} is not known (not created, or not indexed yet)")
            if answer.status_code == 503:
                answer.read()
                raise IpfsFailed(f"the platform cannot read the frame: {error_message(answer)}")
            if answer.status_code != 200:
                answer.read()
                raise ApiUnavailable(f"the platform failed: {error_message(answer)}")
            cid = answer.headers["X-Result-CID"]
            dest = folder / f"job-{job_id}-{cid}"
            partial = dest.with_name(dest.name + ".part")
            total = int(answer.headers.get("X-Content-Length") or 0) or None
            try:
                written = 0
                with progress_bar() as bar, partial.open("wb") as out:
                    task = bar.add_task(f"downloading job {job_id}", total=total)
                    for chunk in answer.iter_bytes(CHUNK):
                        written += out.write(chunk)
                        bar.advance(task, len(chunk))
                if total is not None and written != total:  # the node stopped mid-stream
                    raise IpfsFailed(
                        f"the frame of job {job_id} was cut short ({written:,} of {total:,} "
                        "bytes): download it again"
                    )
                dest = dest.with_suffix(_image_suffix(partial))
                os.replace(partial, dest)
            finally:
                partial.unlink(missing_ok=True)
    except httpx.TransportError as err:
        raise unreachable(api, err) from None
    return dest


SUFFIXES = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg", b"v/1\x01": ".exr"}


def _image_suffix(path: Path) -> str:
    """The frame's file suffix from its first bytes (a CID says nothing of the format)."""
    with path.open("rb") as handle:
        head = handle.read(4)
    return next((s for magic, s in SUFFIXES.items() if head.startswith(magic)), "")


@contextmanager
def chain_errors(what: str) -> Iterator[None]:
    """Chain failures as one line: the node down (ChainFailed), the token's refusal
    (NotEnoughTokens), the contract's (ChainFailed, with its message)."""
    try:
        yield
    except (TimeoutError, aiohttp.ClientError, OSError) as err:
        raise ChainFailed(f"{what}: the StarkNet node cannot be reached ({err})") from None
    except (ClientError, TransactionFailedError) as err:
        text = str(getattr(err, "message", None) or err)
        if "insufficient" in text:
            raise NotEnoughTokens(f"{what}: {text[:300]}") from None
        raise ChainFailed(f"{what}: the chain refused it: {text[:300]}") from None


class Creator:
    """One creator account on one platform (its API and the chain it follows)."""

    def __init__(self, url: str, account: CreatorAccount | None, settings: Settings):
        auth = None
        if account is not None:
            auth = AccountLogin(url, account.address, account.private_key, "creator")
        self.account = account
        self.api = httpx.Client(base_url=url, timeout=30, auth=auth)
        self.settings = settings
        self._network: Network | None = None

    def close(self) -> None:
        self.api.close()

    @property
    def network(self) -> Network:
        if self._network is None:
            self._network = Network.read(self.api, self.settings)
        return self._network

    def create_job(self, cid: str, reward: int, deadline_s: int, min_reputation: int) -> int:
        """Escrow `reward` for `cid` until `deadline_s` from now (chain time); the job id."""
        with chain_errors("creating the job on chain"):
            return asyncio.run(self._create(cid, reward, deadline_s, min_reputation))

    def rate(self, job_id: int, score: int) -> int:
        """`update_worker_reputation` for the job's worker; the transaction hash."""
        with chain_errors(f"rating job {job_id}"):
            return asyncio.run(self._rate(job_id, score))

    def attach(self, job_id: int, render_settings: dict[str, Any], wait_s: float = 60) -> dict:
        """Attach the render settings once the API has indexed the job; the job's document."""
        deadline = time.monotonic() + wait_s
        path = f"/api/v1/jobs/{job_id}"
        while self.api_get(path, missing_ok=True) is None:
            if time.monotonic() > deadline:
                raise ApiUnavailable(f"job {job_id} was not indexed within {wait_s:.0f} s")
            time.sleep(0.2)
        body = {"job_id": job_id, **render_settings}
        return call_api(self.api, "POST", "/api/v1/jobs", json=body).json()

    def api_get(self, path: str, *, missing_ok: bool = False, **params: Any) -> Any:
        """A read of the API as JSON (None for a 404 when `missing_ok`)."""
        answer = send(self.api, "GET", path, params=params)
        if missing_ok and answer.status_code == 404:
            return None
        return checked(answer).json()

    async def _as_creator(self, client: FullNodeClient, contract: int, abi: str) -> Contract:
        assert self.account is not None, "a read-only Creator signs nothing"
        return await contract_as(
            client, contract, abi, self.account.address, self.account.private_key
        )

    async def _create(self, cid: str, reward: int, deadline_s: int, min_reputation: int) -> int:
        network = self.network
        client = FullNodeClient(node_url=network.rpc_url)
        registry = await self._as_creator(client, network.registry, "job_registry")
        token = await self._as_creator(client, network.token, "erc20")
        (balance,) = await token.functions["balance_of"].call(registry.account.address)
        if balance < reward:
            raise NotEnoughTokens(
                f"the reward is {reward / 10**18:g} tokens and account "
                f"{hex(registry.account.address)} holds {balance / 10**18:g}: fund it first"
            )
        now = (await client.get_block(block_number="pre_confirmed")).timestamp
        calls = [
            token.functions["approve"].prepare_invoke_v3(network.registry, reward),
            registry.functions["create_job_with_requirements"].prepare_invoke_v3(
                *cid_to_felts(cid), reward, now + deadline_s, min_reputation
            ),
        ]
        sent = await registry.account.execute_v3(calls=calls, auto_estimate=True)
        receipt = await client.wait_for_tx(sent.transaction_hash, check_interval=0.25)
        created = event_codec("job_registry").selector("JobCreated")
        for event in receipt.events:
            if event.keys[0] == created:
                return event.keys[1]
        raise ChainFailed(f"transaction {hex(sent.transaction_hash)} created no job")

    async def _rate(self, job_id: int, score: int) -> int:
        network = self.network
        client = FullNodeClient(node_url=network.rpc_url)
        registry = await self._as_creator(client, network.registry, "job_registry")
        (worker,) = await registry.functions["get_job_worker"].call(job_id)
        if not worker:
            raise CreatorError(f"job {job_id} has no worker yet: nothing to rate")
        call = registry.functions["update_worker_reputation"].prepare_invoke_v3(
            worker, job_id, score
        )
        sent = await registry.account.execute_v3(calls=[call], auto_estimate=True)
        await client.wait_for_tx(sent.transaction_hash, check_interval=0.25)
        return sent.transaction_hash
