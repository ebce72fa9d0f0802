"""The sanctions job: for each due cause, `slash_worker_reputation` and/or `verify_worker(false)`
from the operator's account by the policy in settings; each action in the run log and in
the warehouse's `sanctions` table."""

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.defs.sanctions.due import due
from veriframe_dagster.resources import (
    ChainResource,
    OperatorResource,
    SanctionsResource,
    WarehouseResource,
)

RECORD = sa.text(
    """
    INSERT INTO sanctions (worker_address, verification_id, job_id, cause, action, amount,
                           outcome, transaction_hash, detail, run_id)
    VALUES (:worker, :verification_id, :job_id, :cause, :action, :amount, :outcome, :tx,
            :detail, :run_id)
    ON CONFLICT DO NOTHING
    """
)


@dg.op(description="slash and unverify the workers whose cheats verification caught")
def sanction_cheats(
    context: dg.OpExecutionContext,
    warehouse: WarehouseResource,
    chain: ChainResource,
    operator: OperatorResource,
    sanctions: SanctionsResource,
) -> dg.Output:
    from veriframe_core.chain.sanctions import Sanctioner  # the chain stack: loaded in runs only

    engine = warehouse.engine()
    with engine.connect() as conn:
        causes = due(conn, sanctions.max_rejections)
    context.log.info(f"Sanctions: {len(causes)} causes due")
    if not causes:
        return dg.Output(None, metadata={"due": 0, "sent": 0, "failed": 0})
    try:
        address, key = operator.account(chain)
    except RuntimeError as err:
        raise dg.Failure(str(err)) from None
    policy = sanctions.policy()
    actions = [
        action
        for c in causes
        for action in policy.actions(c.worker_address, c.verification_id, int(c.job_id), c.cause)
    ]
    target = chain.target()
    outcomes = Sanctioner(target.rpc_url, target.contract, address, key).apply(
        actions, context.log.info
    )
    with engine.begin() as conn:
        for o in outcomes:
            s = o.sanction
            conn.execute(
                RECORD,
                {
                    "worker": s.worker,
                    "verification_id": s.verification_id,
                    "job_id": s.job_id,
                    "cause": s.cause,
                    "action": s.action,
                    "amount": s.amount,
                    "outcome": o.outcome,
                    "tx": o.transaction_hash,
                    "detail": o.detail or None,
                    "run_id": context.run_id,
                },
            )
    sent = sum(o.outcome == "sent" for o in outcomes)
    metadata = {"due": len(causes), "sent": sent, "failed": len(outcomes) - sent}
    if sent < len(outcomes):
        raise dg.Failure(
            f"{len(outcomes) - sent} of {len(outcomes)} sanctions failed (see the log)",
            metadata=metadata,
        )
    return dg.Output(None, metadata=metadata)


@dg.job(description="Sanctions cheats caught by verification, from the operator's account.")
def sanctions_job() -> None:
    sanction_cheats()
