"""The reputation tables' computations: set-based SQL over the warehouse, one module per table.

Each daily computation takes a range of days, so one statement fills a single day or a whole
backfill alike (and the two agree by construction). Every statement reads one snapshot (a
single INSERT … SELECT) and records what it saw (`as_of_block`, `as_of_event_id`).
"""
