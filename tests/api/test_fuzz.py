"""Property-based fuzzing of the OpenAPI schema with schemathesis: no input yields a 5xx.

Bounded (a few dozen examples per operation, no shrinking database) so that it runs in seconds.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from movie_recommender.api import ServingState, create_app
from tests.api.conftest import synthetic

model, movies, _ = synthetic()
app = create_app(ServingState(model, movies))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_fails_and_matches_its_schema(case):
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, response_schema_conformance])


# Inputs the fuzzer rarely or never generates (30-300 examples never tried a blank query): none may give a 5xx.
EDGE_CASES = [
    ("GET", "/movies?query=%20", None),
    ("GET", "/movies?query=%20%20%20&limit=100", None),
    ("GET", "/movies?query=%00", None),
    ("GET", "/movies?query=%F0%9F%8E%AC", None),
    ("GET", "/movies?query=%C3%9F", None),  # casefold changes the length: ß -> ss
    ("GET", "/movies/0/similar", None),
    ("GET", "/movies/-1/similar", None),
    ("GET", f"/movies/{2**63}/similar", None),
    ("GET", f"/movies/{10**30}/similar", None),
    ("GET", "/movies/25/similar?n=100", None),
    ("GET", "/movies/99/similar", None),
    ("GET", f"/users/{2**64}/recommendations", None),
    ("GET", "/users/1/recommendations?n=100", None),
    ("GET", "/users/30/recommendations?n=1", None),
    ("POST", "/recommendations?n=100", [{"movieId": m, "rating": 0.5} for m in range(1, 30)]),
    ("POST", "/recommendations", [{"movieId": 1, "rating": 5}] * 3),
    ("POST", "/recommendations", [{"movieId": 25, "rating": 5}, {"movieId": 99, "rating": 1}]),
    ("POST", "/recommendations", [{"movieId": 2**63 - 1, "rating": 5}, {"movieId": -(2**63), "rating": 5}]),
    ("POST", "/recommendations", [{"movieId": 2**63, "rating": 5}]),
    ("POST", "/recommendations", {"movieId": 1, "rating": 5}),
    ("POST", "/recommendations", [{"movieId": 1.5, "rating": 5}]),
    ("POST", "/recommendations", [{"movieId": "1", "rating": "5"}]),
]


@pytest.mark.parametrize("method, url, body", EDGE_CASES)
def test_edge_inputs_never_fail(method, url, body):
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.request(method, url, json=body)
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json"
