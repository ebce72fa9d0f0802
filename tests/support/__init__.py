"""What the tests share: a starknet-py driver of devchain, JobRegistry activity, warehouses and
an API server. Plain modules, imported by the tests and conftests that need them; the conftests
hold only fixtures."""
