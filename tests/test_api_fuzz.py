"""Property-based API tests: schemathesis generates requests from the OpenAPI document.

No input a client can send may produce a 500, and every response must match the document
(status codes, schemas, content types). New endpoints are covered as soon as they are routed.

The generated strings of bodies, query strings and paths are given a control character (NUL,
line break, DEL, escape) about half the time: those reach a database lookup as easily as any
other text, and the document's patterns alone would rarely make schemathesis send them.
Headers keep theirs (HTTP servers refuse a NUL or a line break in a header).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from bankmall.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)

CONTROLS = ("\x00", "\n", "\x7f", "\x1b")
CONTROL_CHARACTERS = st.sampled_from([*CONTROLS, "\x00\x00"])


def _with_controls(value: Any) -> st.SearchStrategy[Any]:
    """``value`` as generated, or with a control character put into each of its strings
    (at the start, the middle or the end) about half the time."""
    if isinstance(value, str):
        inserted = st.tuples(CONTROL_CHARACTERS, st.integers(0, len(value))).map(
            lambda choice: value[: choice[1]] + choice[0] + value[choice[1] :]
        )
        return st.one_of(st.just(value), inserted)
    if isinstance(value, dict):
        return st.fixed_dictionaries({key: _with_controls(item) for key, item in value.items()})
    if isinstance(value, list):
        return st.tuples(*(_with_controls(item) for item in value)).map(list)
    return st.just(value)


def _holds_a_control(value: Any) -> bool:
    if isinstance(value, str):
        # Path parameters reach the test already percent-encoded.
        return any(control in unquote(value) for control in CONTROLS)
    if isinstance(value, dict):
        return any(_holds_a_control(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_a_control(item) for item in value)
    return False


@schema.hook("flatmap_body")
def _body_with_controls(context: Any, body: Any) -> st.SearchStrategy[Any]:
    return _with_controls(body)


@schema.hook("flatmap_query")
def _query_with_controls(context: Any, query: Any) -> st.SearchStrategy[Any]:
    return _with_controls(query)


@schema.hook("flatmap_path_parameters")
def _path_with_controls(context: Any, path_parameters: Any) -> st.SearchStrategy[Any]:
    return _with_controls(path_parameters)


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
    # A string given a control character may be refused (422) although the rest of the case
    # is "schema-valid": schemathesis cannot know that the rule of the field refuses it.
    sent_controls = any(
        _holds_a_control(part) for part in (case.body, case.query, case.path_parameters)
    )
    excluded = [positive_data_acceptance] if sent_controls else []
    # A query parameter made a list of one item ("negative" data for a string parameter) goes
    # over the wire exactly as the string itself (``name=value``): nothing can tell them apart.
    # Two or more items repeat the name, which the API refuses (422).
    if any(isinstance(value, list) and len(value) <= 1 for value in (case.query or {}).values()):
        excluded.append(negative_data_rejection)
    case.call_and_validate(excluded_checks=excluded)
