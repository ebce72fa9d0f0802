"""Fixtures that run a real devchain process and drive it with starknet-py over HTTP."""

from tests.support.chain import devchain_fixture

driver = devchain_fixture("module", name="driver")
