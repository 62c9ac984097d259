"""Property-based API tests: schemathesis generates requests from the OpenAPI document.

No input a client can send may produce a 500, and every response must match the document
(status codes, schemas, content types). New endpoints are covered as soon as they are routed.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from bankmall.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_never_fails_with_a_server_error_and_matches_its_document(
    case: schemathesis.Case,
) -> None:
    case.call_and_validate()
