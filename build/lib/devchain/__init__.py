"""devchain: a local StarkNet JSON-RPC 0.10.2 node that runs the JobRegistry rules.

No StarkNet node or devnet can be installed on these machines, so the project ships its own:
starknet-py's unchanged FullNodeClient, Account and Contract talk to it over HTTP.
"""
