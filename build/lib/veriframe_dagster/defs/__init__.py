"""Dagster definitions, one folder per domain (assets, sensors and checks side by side)."""
