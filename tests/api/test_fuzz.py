"""Property-based fuzzing of the OpenAPI schema with schemathesis: no input yields a 5xx.

Bounded (a few dozen examples per operation, no shrinking database) so that it runs in seconds.
"""

from __future__ import annotations

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
