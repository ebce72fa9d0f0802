"""Asset checks of the chain tables: is the warehouse current, and does it agree with the chain?

- every table: **in sync with the chain** (head lag in blocks and chain seconds);
- `workers`, `jobs`: a **spot check** of a random sample against the contract's views
  (`get_worker_status`, `get_job_worker`, `is_job_completed`);
- `jobs`: **no gaps in job ids** (ids are sequential from 1; up to the contract's counter);
- `reputation_history`: every change belongs to a known worker whose reputation is the last
  change's new value;
- `contract_events`: no event beyond the cursor, every event on the block hash recorded for
  its block.

Every check reads one consistent snapshot of the warehouse (REPEATABLE READ: the cursor moves
in the same transaction as the data) and reads the chain *at the cursor block*, so a tick
running meanwhile cannot make a check fail.
"""

from veriframe_dagster.defs.chain.checks.contract import (
    jobs_have_no_gaps,
    jobs_match_contract,
    workers_match_contract,
)
from veriframe_dagster.defs.chain.checks.freshness import chain_sync_freshness
from veriframe_dagster.defs.chain.checks.rows import (
    events_consistent_with_cursor,
    history_consistent_with_workers,
)

CHAIN_CHECKS = [
    chain_sync_freshness,
    workers_match_contract,
    jobs_match_contract,
    jobs_have_no_gaps,
    history_consistent_with_workers,
    events_consistent_with_cursor,
]
