"""Helpers of the tests that run worker agents against the platform's real parts."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from starknet_py.net.account.account import Account

from render_executor.agent import Agent
from render_executor.chain import ChainSubmitter
from tests.support.activity import Activity
from tests.support.api import ApiServer, bearer, sign_in
from tests.support.chain import Driver
from tests.support.warehouse import ingestor
from veriframe_core.chain.cids import cid_to_felts
from veriframe_core.ipfs import IpfsClient
from veriframe_core.settings import Settings

TINY = {"resolution_x": 64, "resolution_y": 48, "samples": 4}
_rewards = itertools.count(1)


def private_key(chain: Driver, account: Account) -> str:
    return next(
        a["private_key"] for a in chain.info["accounts"] if int(a["address"], 16) == account.address
    )


def post_job(
    chain: Driver,
    api: httpx.Client,
    warehouse: sa.Engine,
    activity: Activity,
    asset_cid: str,
    **render_settings: Any,
) -> int:
    """A job on chain for `asset_cid`, indexed, with tiny render settings from its creator;
    better paid than the jobs before it, so `claim-next` offers it first."""
    creator = activity.creators[0]
    reward = 10**18 * next(_rewards)
    call = chain.reg("create_job", *cid_to_felts(asset_cid), reward, chain.now() + 10**6)
    chain.send(creator, call)
    job_id = chain.view(chain.registry, "get_job_counter")
    ingestor(warehouse, chain).tick(60, until_caught_up=True)
    auth = bearer(sign_in(api, creator, "authenticate"))
    body = {"job_id": job_id, **TINY, **render_settings}
    answer = api.post("/api/v1/jobs", json=body, headers=auth)
    assert answer.status_code == 200, answer.text
    return job_id


def agent_for(
    chain: Driver,
    server: ApiServer,
    account: Account,
    tmp_path: Path,
    ipfs_api: str,
    heartbeat_s: float | None = 0.3,
    **more: Any,
) -> Agent:
    """An agent for `account` on this platform (heartbeats every `heartbeat_s`; None: every
    quarter of the lease, as in service)."""
    settings = Settings(
        data_dir=tmp_path,
        worker_api_url=server.url,
        worker_address=hex(account.address),
        worker_private_key=private_key(chain, account),
        worker_ipfs_api=ipfs_api,
        worker_poll_s=0.2,
        **more,
    )
    submitter = ChainSubmitter(
        chain.url, chain.registry.address, account.address, int(private_key(chain, account), 16)
    )
    return Agent(settings, submitter=submitter, heartbeat_s=heartbeat_s)


def messages(warehouse: sa.Engine, job_id: int) -> list[dict]:
    with warehouse.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT message FROM pipes_messages WHERE job_id = :j ORDER BY attempt_id, seq"
            ),
            {"j": job_id},
        )
        return [r.message for r in rows]


def logged(warehouse: sa.Engine, job_id: int) -> list[str]:
    return [m["params"]["message"] for m in messages(warehouse, job_id) if m["method"] == "log"]


def upload(kubo_url: str, content: Path | bytes) -> str:
    """Add a file (or bytes) to the IPFS node at `kubo_url`; its CID."""
    with IpfsClient(kubo_url) as ipfs:
        return ipfs.add(content) if isinstance(content, Path) else ipfs.add_bytes(content)
