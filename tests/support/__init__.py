"""What the tests share: devchain started by one fixture factory and driven by starknet-py,
JobRegistry activity, the marketplace loader for big histories (the benches use it too),
warehouses and an API server. Plain modules, imported by the tests and conftests that need
them; the conftests hold only fixtures."""
