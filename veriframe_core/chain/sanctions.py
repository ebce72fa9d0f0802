"""Sanctions: what a cheat costs, from the operator's (the JobRegistry owner's) account.

Two causes, both decided by verification, never by a worker's word:
- **a forged result on chain**: a result the contract holds as a job's whose verification
  rejected it (submitted around the API, or despite a rejected delivery);
- **rejected deliveries**: a worker whose deliveries verification rejected
  `api_max_rejections` times.
Each costs `slash_worker_reputation(worker, points)` and, by the policy, `verify_worker(worker,
false)`, after which the worker can neither claim through the API nor `submit_result` on
chain until the owner verifies it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from veriframe_core.chain.operator import ClientError, OperatorAccount


@dataclass(frozen=True)
class Sanction:
    """One action against one worker, and the verification that justifies it."""

    worker: str
    verification_id: int
    job_id: int
    cause: str
    action: str  # "slash_worker_reputation" or "verify_worker"
    amount: int | None = None


@dataclass(frozen=True)
class Outcome:
    sanction: Sanction
    outcome: str  # "sent" or "failed"
    transaction_hash: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Policy:
    """How much a cheat costs (`VERIFRAME_SANCTION_*`)."""

    slash_points: int
    unverify: bool

    def actions(self, worker: str, verification_id: int, job_id: int, cause: str) -> list[Sanction]:
        actions = []
        if self.slash_points > 0:
            actions.append(
                Sanction(
                    worker,
                    verification_id,
                    job_id,
                    cause,
                    "slash_worker_reputation",
                    self.slash_points,
                )
            )
        if self.unverify:
            actions.append(Sanction(worker, verification_id, job_id, cause, "verify_worker"))
        return actions


class Sanctioner(OperatorAccount):
    """Sends sanctions from the operator's account, one after another."""

    def apply(self, sanctions: Sequence[Sanction], say: Callable[[str], None]) -> list[Outcome]:
        return asyncio.run(self._apply(sanctions, say))

    async def _apply(self, sanctions: Sequence[Sanction], say) -> list[Outcome]:
        registry = await self.registry()
        outcomes = []
        for sanction in sanctions:
            worker = int(sanction.worker, 16)
            args = (worker, sanction.amount) if sanction.amount is not None else (worker, False)
            call = f"{sanction.action}({sanction.worker}, {args[1]})"
            try:
                tx = await self.send(registry, sanction.action, *args)
            except ClientError as err:  # the contract refused (say, unregistered meanwhile)
                outcomes.append(Outcome(sanction, "failed", detail=err.message[:500]))
                say(
                    f"Sanction: {call} for {sanction.cause} (job {sanction.job_id}) failed: "
                    f"{err.message}"
                )
                continue
            outcomes.append(Outcome(sanction, "sent", hex(tx)))
            say(
                f"Sanction: {call} for {sanction.cause} (job {sanction.job_id}, verification "
                f"{sanction.verification_id}) in transaction {hex(tx)}"
            )
        return outcomes
