"""Render domain: every chain job a partition of the `render` asset, its run the recorder of
what the worker reported through Pipes over the API."""
