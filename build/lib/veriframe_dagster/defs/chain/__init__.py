"""Chain domain: JobRegistry events ingested into the warehouse, and checked against the chain."""
