"""Job documents built as JSON by Postgres, for the hot paths (`/jobs/available`, claims).

Building a page of 50 jobs in Python (rows → dicts → pydantic → JSON) cost about 4 ms of
CPU per request (bench/README.md); `json_build_object` in Postgres costs a fraction of that
and the API only passes the text on. The fragments are made once, from the response models
(`veriframe_core.protocol.Job`, `RenderSettings`, `Claim`), so the JSON has their fields and types:
u256 and felt fields as decimal text, timestamps as ISO 8601 UTC.
"""

from __future__ import annotations

import json
import typing

import sqlalchemy as sa
from fastapi.responses import Response

from api.prepared import Prepared
from veriframe_core.protocol import Claim, Job, RenderSettingsIn, Verification
from veriframe_core.warehouse.tables import LIVE_STATES, job_attempts, jobs, verifications

DEFAULT_SETTINGS = json.dumps({**RenderSettingsIn().model_dump(), "custom": False})


def as_json(text: str | bytes) -> Response:
    """A document Postgres built, passed on as it is."""
    return Response(text, media_type="application/json")


def _is_text(annotation: typing.Any) -> bool:
    """Whether a model field is text (`BigInt` is an annotated str)."""
    return annotation is str or any(_is_text(a) for a in typing.get_args(annotation))


def json_value(column: sa.Column, alias: str, as_text: bool) -> str:
    """The SQL of one column as a JSON value of the model's type."""
    ref = f"{alias}.{column.name}"
    if isinstance(column.type, sa.DateTime):
        # as pydantic writes it: microseconds only when there are any
        return (
            f"""to_char({ref} AT TIME ZONE 'UTC', CASE WHEN date_trunc('second', {ref}) = {ref}"""
            f""" THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"'"""
            f""" ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)"""
        )
    if isinstance(column.type, sa.Numeric) and as_text:
        return f"{ref}::text"
    return ref


def json_object(model: type, table: sa.Table, alias: str, **extra: str) -> str:
    """`json_build_object(...)` of the model's fields from `alias` rows of `table`, and of
    `extra` fields given as SQL."""
    pairs = [
        f"'{name}', {json_value(table.c[name], alias, _is_text(field.annotation))}"
        for name, field in model.model_fields.items()
        if name in table.c
    ] + [f"'{name}', {sql}" for name, sql in extra.items()]
    return f"json_build_object({', '.join(pairs)})"


CLAIM_JSON = json_object(Claim, job_attempts, "a")
SETTINGS_JSON = f"""CASE WHEN r.job_id IS NULL THEN '{DEFAULT_SETTINGS}'::json ELSE
json_build_object(
  'frame', r.frame, 'resolution_x', r.resolution_x, 'resolution_y', r.resolution_y,
  'samples', r.samples, 'engine', r.engine, 'output_format', r.output_format,
  'required_capabilities', json_build_object(
    'devices', r.required_devices, 'min_vram_mb', r.min_vram_mb,
    'min_blender_version', array_to_string(r.min_blender_version, '.'),
    'os', r.required_os),
  'custom', true) END"""
AVAILABLE_JOB_JSON = json_object(Job, jobs, "j", render_settings=SETTINGS_JSON)
"""An item of `/jobs/available` (`protocol.AvailableJob`) from `jobs j` and settings `r`."""
SETTINGS_JOIN = (
    "LEFT JOIN job_render_settings r ON r.job_id = j.job_id AND r.created_tx = j.created_tx"
)
"""Render settings belong to the job with this id *and* creating transaction."""

LIVE_CLAIM = (
    f"(SELECT {CLAIM_JSON} FROM job_attempts a "
    f"WHERE a.job_id = j.job_id AND a.state IN {LIVE_STATES})"
)
VERIFICATION_JSON = json_object(Verification, verifications, "v", verification_id="v.id")
"""A `protocol.Verification` from `verifications v`."""
LATEST_VERIFICATION = (
    f"(SELECT {VERIFICATION_JSON} FROM verifications v "
    "WHERE v.job_id = j.job_id ORDER BY v.id DESC LIMIT 1)"
)
DETAIL_JSON = json_object(
    Job,
    jobs,
    "j",
    render_settings=SETTINGS_JSON,
    claim=LIVE_CLAIM,
    verification=LATEST_VERIFICATION,
)
"""A `protocol.JobDetail` from `jobs j` and its settings `r`."""
JOB_DETAIL = Prepared(
    "veriframe_job_detail",
    f"SELECT {DETAIL_JSON}::text FROM jobs j {SETTINGS_JOIN} WHERE j.job_id = :job_id",
)
"""`GET /jobs/{id}`'s document (`protocol.JobDetail`) as JSON text (`job_detail_json`;
the worker protocol runs it on asyncpg)."""
JOB_DETAILS = Prepared(
    "veriframe_job_details",
    f"""SELECT j.job_id, j.status, {DETAIL_JSON}::text FROM jobs j {SETTINGS_JOIN}
        WHERE j.job_id = ANY(CAST(:job_ids AS numeric[]))
          AND (CAST(:open_or AS numeric[]) IS NULL OR j.status = 'open'
               OR j.job_id = ANY(CAST(:open_or AS numeric[])))""",
)
"""The same documents of several jobs, with their ids and statuses; with `open_or`, of the
open ones and those in `open_or` only (the websocket's feed, `api.realtime`)."""
CLAIMED_JOB_JSON = json_object(
    Job, jobs, "j", render_settings=SETTINGS_JSON, claim=CLAIM_JSON, verification="NULL"
)
"""The same document from a job row `j`, its settings `r` and its new attempt row `a`."""


def job_detail_json(conn: sa.Connection, job_id: int) -> str | None:
    """`GET /jobs/{id}`'s document as JSON text: the job, its render settings, its live claim."""
    return JOB_DETAIL(conn, {"job_id": job_id}).scalar()
