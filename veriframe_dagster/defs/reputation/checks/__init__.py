"""Asset checks of the reputation tables, evaluated in the step that writes the table (on
its connection, in a consistent snapshot right after the write), or alone in a checks-only
run of the asset (as the tests do after corrupting a row):

- **values**: every reputation in 1–1000;
- **sums**: per day (and in total for the scorecard) the tables agree with the raw
  `contract_events` they were not computed from (jobs created / submitted / paid, rewards
  escrowed and paid, ratings and slashes), counted up to the event id each row saw;
- **rows**: one row per registered worker and day (per day for the network, per worker for
  the scorecard);
- **future**: no day after today (UTC) or the chain's latest block's day;
- **verdicts**: per day (and worker) the daily tables count the verdicts and sanctions of
  `verifications` and `sanctions`, all those committed when the rows were computed;
- **freshness**: no event the warehouse has held for longer than `chain_fresh_max_lag_s`
  (60 s by default) is newer than what the rows saw.

The daily tables' checks cover the days of the run (one day, or a backfill's range).
"""

from __future__ import annotations

from veriframe_dagster.defs.reputation.checks.freshness import FRESHNESS_CHECKS
from veriframe_dagster.defs.reputation.checks.rows import ROW_CHECKS
from veriframe_dagster.defs.reputation.checks.scope import Check, Scope
from veriframe_dagster.defs.reputation.checks.sums import SUM_CHECKS
from veriframe_dagster.defs.reputation.checks.values import VALUE_CHECKS
from veriframe_dagster.defs.reputation.checks.verdicts import VERDICT_CHECKS

REPUTATION_CHECKS: list[Check] = [
    *VALUE_CHECKS,
    *SUM_CHECKS,
    *ROW_CHECKS,
    *FRESHNESS_CHECKS,
    *VERDICT_CHECKS,
]


def checks_of(table: str) -> list[Check]:
    """The checks of `analytics.<table>`."""
    return [c for c in REPUTATION_CHECKS if c.table == table]


__all__ = ["REPUTATION_CHECKS", "Check", "Scope", "checks_of"]
