"""The Dagster-free core of VeriFrame: the one settings object, the chain (ABI, event codec,
CIDs, RPC, the contract's rules, ingestion), the warehouse (schema, migrations, Postgres), and
the API's wire contract (`protocol`) with its signed-login client (`login`).

Dagster's code location (`veriframe_dagster`), the API (`api`) and the `veriframe` command
are built on it; it imports none of them, nor Dagster. Kept empty so that importing a
submodule stays cheap.
"""
