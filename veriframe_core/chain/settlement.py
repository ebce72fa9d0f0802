"""Settlement: `finalize_job` for every job past its deadline with a verified result, from
the operator's account. Anyone may finalize on the contract; the platform does it so that
workers are paid without anyone clicking.

Idempotent: a job the contract already reports completed is skipped, whoever finalized it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from veriframe_core.chain.operator import ClientError, OperatorAccount


@dataclass(frozen=True)
class Settled:
    job_id: int
    outcome: str  # "finalized", "already finalized", "failed"
    detail: str = ""


class Settler(OperatorAccount):
    """Finalizes jobs on one JobRegistry from the operator's account."""

    def settle(self, job_ids: Iterable[int], say: Callable[[str], None]) -> list[Settled]:
        return asyncio.run(self._settle(list(job_ids), say))

    async def _settle(self, job_ids: list[int], say: Callable[[str], None]) -> list[Settled]:
        registry = await self.registry()
        results = []
        for job_id in job_ids:
            (completed,) = await registry.functions["is_job_completed"].call(job_id)
            if completed:
                results.append(Settled(job_id, "already finalized"))
                say(f"Settlement: job {job_id} is already finalized; skipped")
                continue
            try:
                tx = await self.send(registry, "finalize_job", job_id)
            except ClientError as err:  # the contract refused: nothing else to do for it
                results.append(Settled(job_id, "failed", err.message))
                say(f"Settlement: finalize_job({job_id}) failed: {err.message}")
                continue
            results.append(Settled(job_id, "finalized", hex(tx)))
            say(f"Settlement: finalized job {job_id} in transaction {hex(tx)}")
        return results
