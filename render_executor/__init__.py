"""What runs on a GPU node: the worker agent, the Blender runner and the IPFS client.

It talks HTTP to the API, in the messages of `veriframe_core.protocol` that the API declares
too, and to IPFS, and reports through Dagster Pipes; it never imports `dagster`, the Dagster
code location, the API or the warehouse (the import contracts in pyproject.toml say so, and
`./dev lint` checks them), so a GPU node installs little.
"""
