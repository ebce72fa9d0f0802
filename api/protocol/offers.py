"""`GET /jobs/available`: the jobs a worker may claim now, best reward first, as JSON text.

Workers poll this endpoint, so it is the API's hottest read. Pages are built by Postgres
(`api.documents`) and kept per process, keyed by what decides the answer rather than by
worker: the worker's *class* — which of the open jobs' reputation minimums it passes and
which of their capability requirements it meets — the jobs it is blocked from, and, for a
worker that created open jobs, its address. A thousand workers fall into a few dozen classes.

Any job or worker change notification (LISTEN/NOTIFY, `api.realtime.ChangeFeed`) empties the
caches, and they are used only while this process is listening, so nothing served is older
than the last change it heard of. Only time itself is not notified: a page lives
until the first deadline among its jobs (`page_ttl`).
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from typing import Any

import sqlalchemy as sa

from api.documents import AVAILABLE_JOB_JSON, SETTINGS_JOIN
from api.prepared import Prepared
from api.protocol import claims
from veriframe_core.protocol import Eligibility

PAGE_TTL_S = 1.0
"""Of pages past the first (see `page_ttl`)."""
FACTS_TTL_S = 60.0
"""Only a safety net: what else is cached changes through notified writes."""
MAX_ENTRIES = 10_000
MISS = object()

PAGE = Prepared(
    "veriframe_page",
    f"""
    SELECT coalesce(json_agg(p.doc ORDER BY p.n) FILTER (WHERE p.n <= :limit), '[]')::text,
           count(*), extract(epoch FROM min(p.deadline) - now()),
           (SELECT extract(epoch FROM min(j.indexed_at) + {claims.GRACE} - now()) FROM jobs j
            WHERE j.status = 'open' AND NOT {claims.RELEASED})
    FROM (
        SELECT row_number() OVER (ORDER BY j.reward_amount DESC, j.job_id) AS n,
               {AVAILABLE_JOB_JSON} AS doc, j.deadline
        FROM jobs j {SETTINGS_JOIN}
        WHERE {claims.CLAIMABLE}
        ORDER BY j.reward_amount DESC, j.job_id
        LIMIT :limit + 1 OFFSET :offset
    ) p
    """,
)
THRESHOLDS = Prepared(
    "veriframe_thresholds", "SELECT DISTINCT min_reputation FROM jobs WHERE status = 'open'"
)
MET_REQUIREMENTS = Prepared(
    "veriframe_met_requirements",
    f"""
    SELECT coalesce(string_agg(md5(row(s.*)::text), ',' ORDER BY md5(row(s.*)::text)), '')
    FROM (SELECT DISTINCT r.required_devices, r.min_vram_mb, r.min_blender_version,
                 r.required_os
          FROM job_render_settings r JOIN jobs j
               ON j.job_id = r.job_id AND j.created_tx = r.created_tx
          WHERE j.status = 'open') s
    WHERE {claims.CAPABILITY_MATCH}
    """,
)
"""Which distinct requirements of open jobs the worker meets, as one comparable text."""


def page_ttl(
    offset: int, first_deadline_s: float | None, first_release_s: float | None = None
) -> float:
    """How long a page stays right without a change notification. Time removes jobs (their
    deadline passes) and adds the ones held back for their settings (`claims.RELEASED`): a
    first page changes when one of its own jobs (or the one after it, which decides
    `next_offset`) expires, or when the next held-back job is released. A later page also
    shifts when an earlier job expires, which the page itself does not show: those live
    `PAGE_TTL_S`."""
    changes = [float(s) for s in (first_deadline_s, first_release_s) if s is not None]
    if offset or not changes:
        return PAGE_TTL_S
    return max(0.0, min([*changes, FACTS_TTL_S]))


class AvailableJobs:
    """Pages of available jobs and the facts of workers, cached between changes."""

    def __init__(self, engine: sa.Engine, max_failures: int, grace_s: float = 0):
        self.engine = engine
        self.max_failures = max_failures
        self.grace_s = grace_s
        self.listening = False
        self._lock = threading.Lock()
        self._generation = 0
        self._facts: dict[str, tuple[float, claims.WorkerFacts | None]] = {}
        self._met: dict[tuple, tuple[float, str]] = {}  # capability key → requirements met
        self._pages: dict[tuple, tuple[float, str, bool]] = {}
        self._thresholds: list[int] | None = None

    # ---------------------------------------------------------------- ChangeFeed listener
    def heard(self, payloads: list[str]) -> None:
        """Rows changed somewhere (every notification names some: no need to parse it on the
        event loop to know)."""
        if payloads:
            self.forget()

    def connected(self, listening: bool) -> None:
        """The LISTEN session came up or went away."""
        self.listening = listening
        self.forget()

    def forget(self) -> None:
        """Empty the caches: this process changed rows itself (its caller's next read must
        see its own write before the notification comes back), heard of a change, or its
        LISTEN session came or went."""
        with self._lock:
            self._generation += 1
            self._facts.clear()
            self._met.clear()
            self._pages.clear()
            self._thresholds = None

    # ---------------------------------------------------------------- reads
    # cached_* never touch the database (the route calls them on the event loop); load_*
    # read it (in a worker thread) and keep what they read.
    def _cached(self, cache: dict, key: Any) -> Any:
        entry = cache.get(key)
        if entry is None or entry[0] <= time.monotonic() or not self.listening:
            return MISS
        return entry[1:] if len(entry) > 2 else entry[1]

    def cached_worker(self, address: str) -> claims.WorkerFacts | object | None:
        """The cached facts of a worker, or MISS."""
        return self._cached(self._facts, address)

    def load_worker(self, address: str) -> claims.WorkerFacts | None:
        generation, expires = self._generation, time.monotonic() + FACTS_TTL_S
        with self.engine.connect() as conn:
            facts = claims.load_worker(conn, address, self.max_failures)
        self._store(generation, self._facts, address, (expires, facts))
        return facts

    def cached_page(
        self, worker: claims.WorkerFacts, limit: int, offset: int
    ) -> tuple[str, bool] | object:
        """(items as a JSON array, whether more follow), or MISS."""
        key = self._page_key(worker, limit, offset)
        return MISS if key is None else self._cached(self._pages, key)

    def load_page(self, worker: claims.WorkerFacts, limit: int, offset: int) -> tuple[str, bool]:
        """The page for a worker that passed `claims.ineligibility`, read now."""
        generation = self._generation
        params = {**worker.params(), "limit": limit, "offset": offset, "grace_s": self.grace_s}
        with self.engine.connect() as conn:
            items, fetched, first_deadline_s, first_release_s = PAGE(conn, params).one()
            if self._thresholds is None:
                thresholds = sorted(THRESHOLDS(conn).scalars())
                with self._lock:
                    if generation == self._generation:
                        self._thresholds = thresholds
            capabilities = worker.capability_key()
            if self._cached(self._met, capabilities) is MISS:
                met = MET_REQUIREMENTS(conn, params).scalar_one()
                expires = time.monotonic() + FACTS_TTL_S
                self._store(generation, self._met, capabilities, (expires, met))
        more = fetched > limit
        key = self._page_key(worker, limit, offset)
        if key is not None:
            expires = time.monotonic() + page_ttl(offset, first_deadline_s, first_release_s)
            self._store(generation, self._pages, key, (expires, items, more))
        return items, more

    def _page_key(self, worker: claims.WorkerFacts, limit: int, offset: int) -> tuple | None:
        """What decides the worker's page; None while the classes are not known yet."""
        thresholds = self._thresholds
        met = self._cached(self._met, worker.capability_key())
        if thresholds is None or met is MISS:
            return None
        standing = bisect.bisect_right(thresholds, worker.reputation)
        own = worker.address if worker.creates_open_jobs else None
        return (standing, met, worker.blocked, own, limit, offset)

    def _store(self, generation: int, cache: dict, key: Any, value: tuple) -> None:
        with self._lock:
            if generation != self._generation:
                return  # a change was heard while this was read: do not keep it
            if len(cache) >= MAX_ENTRIES:
                cache.clear()
            cache[key] = value


def page_json(items: str, limit: int, offset: int, more: bool, eligibility: Eligibility) -> bytes:
    """The `AvailablePage` document around Postgres's items array."""
    tail = json.dumps(
        {
            "limit": limit,
            "offset": offset,
            "next_offset": offset + limit if more else None,
            "worker": eligibility.model_dump(),
        }
    )
    return f'{{"items":{items},{tail[1:]}'.encode()
