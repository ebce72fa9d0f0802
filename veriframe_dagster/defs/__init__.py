"""Dagster definitions, one folder per domain: assets, sensors and checks side by side, the
jobs and schedules in `jobs.py`, the domain's `Definitions` in `definitions.py`."""
