"""The worker protocol, in one folder: the routes (`routes`), the claim rules they apply
(`claims`: who may take which job, the lease, how an attempt ends), the offers a worker sees
(`offers`: `/jobs/available` and its cache) and the attempt's Dagster Pipes channel
(`pipes`). The messages themselves are `veriframe_core.protocol`, which the agent shares."""
