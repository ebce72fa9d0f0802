"""The settlement job and its schedule: finalize every job past its deadline with a
submitted result, from the operator's account; each outcome in the run log."""

import dagster as dg
import sqlalchemy as sa

from veriframe_dagster.resources import ChainResource, OperatorResource, WarehouseResource

DUE = sa.text(
    """
    SELECT job_id FROM jobs
    WHERE status = 'submitted' AND deadline <= to_timestamp(:chain_now) ORDER BY job_id
    """
)


@dg.op(description="finalize_job for every submitted job whose deadline passed")
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
        due = [int(j) for j in conn.execute(DUE, {"chain_now": chain_now}).scalars()]
    context.log.info(f"Settlement: {len(due)} jobs past their deadline with a result")
    results = settler.settle(due, context.log.info)
    counts = {
        o: sum(r.outcome == o for r in results)
        for o in ("finalized", "already finalized", "failed")
    }
    return dg.Output(None, metadata={**counts, "due": len(due)})


@dg.job(description="Pays workers: finalize_job for submitted jobs past their deadline.")
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
