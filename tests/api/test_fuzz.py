"""The served OpenAPI document: every operation documents its errors in the one error shape
(the 422 body exactly as it is sent) and has an example; and, fuzzed from it (schemathesis),
no input makes a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.support.api import seeded

EXAMPLES_PER_OPERATION = 25
SCHEMAS = "#/components/schemas/"
UNFAILING = {("get", "/"), ("get", "/health"), ("get", "/metrics")}
"""Operations with no error to document: they answer 200 with what they found."""
FILES = {("get", "/api/v1/jobs/{job_id}/frame")}
"""Operations that answer a file: no JSON, so no example."""


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def schema_of(response: dict[str, Any]) -> dict[str, Any] | None:
    return response.get("content", {}).get("application/json", {}).get("schema")


def component(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The component a schema names, directly or as its items (`list[Claim]`)."""
    ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
    assert ref and ref.startswith(SCHEMAS), schema
    return document["components"]["schemas"][ref.removeprefix(SCHEMAS)]


def test_every_operation_documents_its_errors_and_an_example(api: httpx.Client) -> None:
    document = api.get("/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]  # FastAPI's own 422
    for method, path, operation in operations(document):
        label = f"{method.upper()} {path}"
        content = operation.get("requestBody", {}).get("content", {})
        body = content.get("application/json", {}).get("schema")  # an upload's is the file
        documented = [component(document, body)] if body else []
        documented += [
            component(document, schema)
            for status, response in operation["responses"].items()
            if status.startswith("2") and (schema := schema_of(response)) is not None
        ]
        texts = [  # /metrics: Prometheus's text format, its example written out
            response["content"]["text/plain"]
            for status, response in operation["responses"].items()
            if status.startswith("2") and "text/plain" in response.get("content", {})
        ]
        examples = [c for c in documented if "examples" in c] + [t for t in texts if "example" in t]
        if (method, path) not in FILES:
            assert examples, f"{label} has no example"
        if (method, path) in UNFAILING:
            continue
        failures = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        assert failures, f"{label} documents no error response"
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in failures, f"{label} can be invalid but documents no 422"
        for status, response in failures.items():
            if path == "/ready":  # not ready: the health document, for probes to read
                continue
            shape = "InvalidRequestBody" if status == "422" else "ErrorBody"
            assert schema_of(response) == {"$ref": SCHEMAS + shape}, f"{label} {status}"


def test_the_documented_422_is_the_body_sent(api: httpx.Client, warehouse: sa.Engine) -> None:
    """Invalid query, path and body values, each answered with what the document says."""
    document = api.get("/openapi.json").json()
    _, auth = seeded(warehouse)
    bad = [
        ("get", "/api/v1/jobs", {"params": {"limit": 0, "status": "lost"}}),
        ("get", "/api/v1/jobs/{job_id}", {"url": "/api/v1/jobs/0"}),
        ("get", "/api/v1/workers/{address}", {"url": "/api/v1/workers/0xnothex"}),
        ("post", "/api/v1/auth/challenge", {"json": {}}),
        (
            "post",
            "/api/v1/jobs/{job_id}/heartbeat",
            {"url": "/api/v1/jobs/1/heartbeat", "json": {"progress": 2}, "headers": auth},
        ),
        (
            "post",
            "/api/v1/jobs/{job_id}/pipes/messages",
            {"url": "/api/v1/jobs/1/pipes/messages", "json": {"attempt": 0}, "headers": auth},
        ),
    ]
    for method, path, request in bad:
        url = request.pop("url", path)
        answer = api.request(method, url, **request)
        assert answer.status_code == 422, f"{method} {url}: {answer.text}"
        documented = schema_of(document["paths"][path][method]["responses"]["422"])
        validator = jsonschema_rs.validator_for(
            {**documented, "components": document["components"]}
        )
        validator.validate(answer.json())  # raises, saying where the body differs
        assert answer.json()["error"]["details"], f"{method} {url}: no field errors"


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
