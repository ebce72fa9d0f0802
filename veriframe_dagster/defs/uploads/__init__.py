"""Uploads: scenes creators uploaded through the API, unpinned when no job used them."""
