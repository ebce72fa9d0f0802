"""The settlement job and its schedule: finalize every job past its deadline whose
submitted result was verified, from the operator's account; each outcome in the run log.

A result on chain that no verification passed (rejected, still being verified, or never
seen by a verifier) is held back and named in the log: the platform never pays a forged
frame itself. (The contract lets anyone call `finalize_job` after the deadline; what
stops a cheater who does is the sanction, `veriframe_dagster/defs/sanctions`.)"""

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.resources import ChainResource, OperatorResource, WarehouseResource

DUE = sa.text(
    """
    SELECT j.job_id,
           (SELECT v.state FROM verifications v
            WHERE v.job_id = j.job_id AND v.worker_address = j.worker_address
              AND v.result_cid = j.result_cid
            ORDER BY (v.state = 'verified') DESC, v.id DESC LIMIT 1) AS verification
    FROM jobs j
    WHERE j.status = 'submitted' AND j.deadline <= to_timestamp(:chain_now) ORDER BY j.job_id
    """
)


@dg.op(description="finalize_job for every verified submitted job whose deadline passed")
def finalize_due_jobs(
    context: dg.OpExecutionContext,
    warehouse: WarehouseResource,
    chain: ChainResource,
    operator: OperatorResource,
) -> dg.Output:
    from veriframe_core.chain.settlement import Settler  # the chain stack: loaded in runs only

    try:
        address, key = operator.account(chain)
    except RuntimeError as err:
        raise dg.Failure(str(err)) from None
    target = chain.target()
    settler = Settler(target.rpc_url, target.contract, address, key)
    chain_now = settler.chain_time()
    with warehouse.engine().connect() as conn:
        rows = conn.execute(DUE, {"chain_now": chain_now}).all()
    due = [int(r.job_id) for r in rows if r.verification == "verified"]
    held = [r for r in rows if r.verification != "verified"]
    context.log.info(
        f"Settlement: {len(rows)} jobs past their deadline with a result, "
        f"{len(due)} of them verified"
    )
    for row in held:
        why = f"is {row.verification}" if row.verification else "was never verified"
        context.log.warning(
            f"Settlement: job {int(row.job_id)} held back: its result's verification {why}"
        )
    results = settler.settle(due, context.log.info)
    counts = {
        o: sum(r.outcome == o for r in results)
        for o in ("finalized", "already finalized", "failed")
    }
    return dg.Output(None, metadata={**counts, "due": len(due), "held back": len(held)})


@dg.job(description="Pays workers: finalize_job for verified submitted jobs past their deadline.")
def settlement_job() -> None:
    finalize_due_jobs()


def build_settlement_schedule(cron: str) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        job=settlement_job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Runs settlement; turn it on once the operator's account is configured.",
    )
