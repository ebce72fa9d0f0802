"""The VeriFrame HTTP API: warehouse tables for workers and the frontend (FastAPI)."""
