"""Files in and out of the platform's IPFS node, for creators who run none: a scene up
(`POST /assets`, streamed and pinned) and a job's verified frame down
(`GET /jobs/{id}/frame`, streamed). The node is `VERIFRAME_IPFS_API_URL`'s."""

from __future__ import annotations

import contextlib
import logging
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect

from api import kubo
from api.auth.store import LIVE_SESSION, SESSION_ENDED
from api.deps import IpfsHttp, JobId, PoolDep, Principal, SettingsDep
from api.errors import ApiError, errors, not_found, unauthorized
from api.prepared import Prepared
from veriframe_core.protocol import ASSET_CID, examples
from veriframe_core.settings import Settings

router = APIRouter(tags=["assets"], responses=errors(503))
log = logging.getLogger("veriframe.api")
LATEST_VERDICT = """
    SELECT j.job_id, v.state, v.result_cid
    FROM jobs j LEFT JOIN LATERAL (
        SELECT state, result_cid FROM verifications WHERE job_id = j.job_id
        ORDER BY id DESC LIMIT 1) v ON true
    WHERE j.job_id = $1"""


class Asset(BaseModel):
    """A file the platform's IPFS node holds, pinned."""

    model_config = examples({"cid": ASSET_CID, "size": 1_204_113})

    cid: str = Field(description="its CID (v0), what `create_job` takes in two parts")
    size: int = Field(description="bytes stored, as IPFS counts them")


def node(settings: Settings) -> str:
    """The platform's Kubo RPC API; 503 when this API was started without one."""
    if not settings.ipfs_api_url:
        raise ApiError(
            503, "this platform has no IPFS node for uploads (VERIFRAME_IPFS_API_URL is unset)"
        )
    return settings.ipfs_api_url


def _unavailable(err: kubo.KuboUnavailable) -> ApiError:
    return ApiError(503, str(err), headers={"Retry-After": "5"})


@router.post(
    "/assets",
    response_model=Asset,
    responses=errors(
        401,
        422,
        said={
            400: "the client cut the upload short (nothing is kept)",
            413: "larger than `VERIFRAME_API_MAX_UPLOAD_BYTES`",
            429: "over the account's `VERIFRAME_API_UPLOAD_BYTES_PER_DAY`",
        },
    ),
    summary="Upload a scene to the platform's IPFS node, pinned",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def upload(
    request: Request,
    principal: Principal,
    pool: PoolDep,
    settings: SettingsDep,
    ipfs: IpfsHttp,
    content_length: Annotated[int | None, Header(ge=0)] = None,
) -> dict:
    """The body is the file itself (a `.blend` or an archive), streamed to IPFS as it comes:
    a body over the cap is refused with 413 (from `Content-Length` before a byte is read, or
    as soon as a chunked body passes it) and nothing of it stays pinned."""
    cap = settings.api_max_upload_bytes
    if content_length is not None and content_length > cap:
        raise _too_large(content_length, cap)
    async with pool.acquire() as conn:
        if not await LIVE_SESSION.fetchval(conn, {"sid": principal.session_id}):
            raise unauthorized(SESSION_ENDED)
        used = await UPLOADED_TODAY.fetchval(conn, {"address": principal.address})
    left = settings.api_upload_bytes_per_day - used
    if left <= 0 or (content_length is not None and content_length > left):
        raise _over_budget(settings.api_upload_bytes_per_day, used)
    try:
        ahead = kubo.read_ahead(kubo.capped(request.stream(), min(cap, left)))
        async with contextlib.aclosing(ahead) as body:  # its reader stops with the add
            cid, size = await kubo.add(ipfs, node(settings), body, content_length)
    except kubo.TooLarge:
        if left < cap:  # the day's budget ran out while it streamed
            raise _over_budget(settings.api_upload_bytes_per_day, used) from None
        raise _too_large(None, cap) from None
    except kubo.KuboUnavailable as err:
        raise _unavailable(err) from None
    except ClientDisconnect:  # routine: one line, no traceback; the node keeps nothing of it
        log.info("An upload by %s was cut short by the client: nothing was kept", principal.address)
        raise ApiError(400, "the upload was cut short by the client: nothing was kept") from None
    async with pool.acquire() as conn:
        await UPLOADED.run(conn, {"address": principal.address, "cid": cid, "size": size})
    return {"cid": cid, "size": size}


UPLOADED_TODAY = Prepared(
    "veriframe_uploaded_today",
    """SELECT coalesce(sum(size), 0)::bigint FROM asset_uploads
       WHERE address = :address AND uploaded_at > now() - interval '1 day'""",
)
UPLOADED = Prepared(
    "veriframe_uploaded",
    "INSERT INTO asset_uploads (address, cid, size) VALUES (:address, :cid, :size)",
)


def _over_budget(budget: int, used: int) -> ApiError:
    return ApiError(
        429,
        f"this account has uploaded {used:,} of its {budget:,} bytes for the last 24 hours: "
        "try later, or add the scene to your own IPFS node (VERIFRAME_CREATOR_IPFS_API)",
    )


def _too_large(length: int | None, cap: int) -> ApiError:
    sent = f"{length:,} bytes" if length is not None else "the body"
    return ApiError(
        413,
        f"{sent} is over this platform's upload cap of {cap:,} bytes: "
        "add the scene to your own IPFS node instead (VERIFRAME_CREATOR_IPFS_API)",
    )


@router.get(
    "/jobs/{job_id}/frame",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "the verified frame"},
        **errors(404, 422, said={409: "the job has no verified result (yet)"}),
    },
    summary="A job's verified frame, streamed from the platform's IPFS node",
)
async def frame(
    job_id: JobId, pool: PoolDep, settings: SettingsDep, ipfs: IpfsHttp
) -> StreamingResponse:
    """Only a result verification passed: a delivery still being verified, or rejected, is
    refused with 409 so that nobody takes an unchecked frame for the job's."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(LATEST_VERDICT, job_id)
    if row is None:
        raise not_found(f"job {job_id}")
    if row["state"] != "verified":
        said = f"its latest delivery is {row['state']}" if row["state"] else "nothing delivered"
        raise ApiError(409, f"job {job_id} has no verified frame ({said})")
    cid, source = row["result_cid"], node(settings)
    try:
        answer = await kubo.open_cat(ipfs, source, cid)
    except kubo.KuboUnavailable as err:
        raise _unavailable(err) from None
    headers = {"X-Result-CID": cid, "Content-Disposition": f'attachment; filename="{cid}"'}
    size = answer.headers.get("X-Content-Length") or answer.headers.get("Content-Length")
    if size:
        headers["X-Content-Length"] = size  # the client's progress bar total
    return StreamingResponse(
        answer.aiter_raw(),  # as the node sends it: nothing to decode, no copies
        media_type="application/octet-stream",
        headers=headers,
        background=BackgroundTask(answer.aclose),
    )
