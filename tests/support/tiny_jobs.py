"""Two tiny jobs at module scope, so a launched run can reconstruct them in its own process."""

from __future__ import annotations

import time

import dagster as dg


@dg.op
def count_frames() -> int:
    return 42


@dg.op
def wait_long() -> None:
    time.sleep(120)  # ended by a cancellation, never by itself


@dg.job(executor_def=dg.in_process_executor)
def quick_job() -> None:
    count_frames()


@dg.job(executor_def=dg.in_process_executor)
def sleepy_job() -> None:
    wait_long()
