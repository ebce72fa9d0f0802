"""StarkNet side of the platform: the contract ABIs, the event codec, CID felts, addresses.

Light on purpose: devchain and the API import from here without pulling in Dagster.
"""
