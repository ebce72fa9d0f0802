"""Property-based fuzzing of the OpenAPI schema (schemathesis): no input makes a 5xx."""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

EXAMPLES_PER_OPERATION = 25


def test_no_input_makes_a_server_error(api: httpx.Client) -> None:
    """Valid and invalid requests for every operation, generated from the served schema.

    Each operation gets its own examples: with one budget for the whole schema, which
    operations got any was left to chance (about 30 operations share it)."""
    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    seen: set[str] = set()

    for operation in operations:
        cases = operation.as_strategy() | operation.as_strategy(GenerationMode.NEGATIVE)

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def no_server_error(case) -> None:
            response = case.call()
            seen.add(case.operation.label)
            assert response.status_code < 500, f"{case.operation.label}: {response.text[:300]}"

        no_server_error()
    assert len(seen) == len(operations)  # every operation was exercised
