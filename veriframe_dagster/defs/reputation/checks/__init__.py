"""Asset checks of the reputation tables, next to the assets they check:

- **values**: every reputation in 1–1000;
- **sums**: per day (and in total for the scorecard) the tables agree with the raw
  `contract_events` they were not computed from (jobs created / submitted / paid, rewards
  escrowed and paid, ratings and slashes), counted up to the event id each row saw;
- **rows**: one row per registered worker and day (per day for the network, per worker for
  the scorecard);
- **future**: no day after today (UTC) or the chain's latest block's day;
- **freshness**: no event the warehouse has held for longer than `chain_fresh_max_lag_s`
  (60 s by default) is newer than what the rows saw.

The daily tables' checks are partitioned like their assets: a run checks the days it wrote,
and a backfill run its whole range.
"""

from veriframe_dagster.defs.reputation.checks.freshness import FRESHNESS_CHECKS
from veriframe_dagster.defs.reputation.checks.rows import ROW_CHECKS
from veriframe_dagster.defs.reputation.checks.sums import SUM_CHECKS
from veriframe_dagster.defs.reputation.checks.values import VALUE_CHECKS

REPUTATION_CHECKS = [*VALUE_CHECKS, *SUM_CHECKS, *ROW_CHECKS, *FRESHNESS_CHECKS]
