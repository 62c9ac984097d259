"""No text input of the API reaches the database with a control character (core.text).

Every text parameter and body field of every operation is found in the OpenAPI document, so
an endpoint added later is checked without editing this file: a NUL, a line break in a
single-line field, a DEL and (in a JSON body) a lone surrogate each answer 422 problem+json
naming the field, never 500, and no row is written. A body, header or query string field
must also declare one of the ``core.text`` rules in its schema (as a ``pattern``), or the
document-level test fails.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import pytest
from django.apps import apps
from django.test import Client

from bankmall.api import openapi_document
from bankmall.core.text import TextKind, text_problem
from bankmall.security.tokens import issue_tokens
from tests.banking.conftest import new_customer
from tests.signed_in import make_user

pytestmark = pytest.mark.django_db

SINGLE_LINE_PATTERN: Final = "^[^\\x00-\\x1f\\x7f]*$"
TEXT_PATTERNS: Final = {
    SINGLE_LINE_PATTERN,
    "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$",
    "^[^\\x00]*$",
}
BAD_VALUES: Final = {"nul": "a\x00b", "newline": "a\nb", "del": "a\x7fb"}
SURROGATE: Final = "a\ud800b"
SINGLE_LINE_MESSAGE: Final = "Enter this on one line, without control characters."

_DOCUMENT: Final = openapi_document()
_COMPONENTS: Final = _DOCUMENT["components"]["schemas"]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = _COMPONENTS[schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema:
        return _resolve(next(item for item in schema["anyOf"] if item.get("type") != "null"))
    return schema


def _is_text(schema: dict[str, Any]) -> bool:
    """A free string: not an enum (refused by its choices) and not a date (parsed)."""
    return schema.get("type") == "string" and "enum" not in schema and "format" not in schema


def _string_leaves(schema: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[Any]:
    schema = _resolve(schema)
    if schema.get("type") == "object":
        for name, child in schema.get("properties", {}).items():
            yield from _string_leaves(child, (*prefix, name))
    elif _is_text(schema):
        yield prefix, schema


def _sample(schema: dict[str, Any]) -> Any:
    """A value of ``schema`` for the fields around the one under test (their validity does
    not matter: pydantic reports every field, and the test looks for its own)."""
    schema = _resolve(schema)
    if "examples" in schema:
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        required = schema.get("required", [])
        return {name: _sample(schema["properties"][name]) for name in required}
    if kind == "integer":
        return schema.get("minimum", 1)
    if schema.get("format") == "date":
        return "2026-11-27"
    return "x" * max(1, schema.get("minLength", 1))


@dataclass(frozen=True)
class TextInput:
    """One text input of one operation: where it goes and the rule its schema declares."""

    method: str
    path: str
    location: str  # path, query, header or body
    field: tuple[str, ...]
    pattern: str | None
    operation: dict[str, Any]

    @property
    def name(self) -> str:
        return ".".join(self.field)

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path} {self.location}:{self.name}"


def _text_inputs() -> list[TextInput]:
    found = []
    for path, item in _DOCUMENT["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                schema = _resolve(parameter["schema"])
                if _is_text(schema):
                    found.append(
                        TextInput(
                            method,
                            path,
                            parameter["in"],
                            (parameter["name"],),
                            schema.get("pattern"),
                            operation,
                        )
                    )
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                for field, schema in _string_leaves(content["application/json"]["schema"]):
                    found.append(
                        TextInput(method, path, "body", field, schema.get("pattern"), operation)
                    )
    return found


TEXT_INPUTS: Final = _text_inputs()


def _kind(text_input: TextInput) -> TextKind:
    """The rule the input is held to: its schema's pattern; a path parameter has none in the
    document and is held to the single-line rule by the middleware."""
    pattern = text_input.pattern or SINGLE_LINE_PATTERN
    if re.fullmatch(pattern, "a\x7fb"):
        return TextKind.SECRET
    if re.fullmatch(pattern, "a\nb"):
        return TextKind.MULTI_LINE
    return TextKind.SINGLE_LINE


def _cases() -> Iterator[Any]:
    for text_input in TEXT_INPUTS:
        values = dict(BAD_VALUES)
        if text_input.location == "body":
            values["surrogate"] = SURROGATE
        for label, value in values.items():
            if text_problem(value, _kind(text_input)) is None:
                continue  # allowed in this kind of text (a line break in a password)
            yield pytest.param(text_input, value, id=f"{text_input} {label}")


def _request(client: Client, text_input: TextInput, value: str, token: str) -> Any:
    operation = text_input.operation
    path = text_input.path
    query: dict[str, str] = {}
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        given = value if (where, (name,)) == (text_input.location, text_input.field) else None
        if where == "path":
            text = given if given is not None else "acc_0000000000000000"
            path = path.replace("{" + name + "}", urllib.parse.quote(text, safe=""))
        elif where == "query" and (given is not None or parameter.get("required")):
            query[name] = given if given is not None else str(_sample(parameter["schema"]))
        elif where == "header" and (given is not None or parameter.get("required")):
            meta_name = "HTTP_" + name.upper().replace("-", "_")
            headers[meta_name] = given if given is not None else "key-1"
    url = path + ("?" + urllib.parse.urlencode(query) if query else "")
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return client.generic(text_input.method.upper(), url, **headers)
    body = _sample(content["application/json"]["schema"])
    if text_input.location == "body":
        target = body
        for part in text_input.field[:-1]:
            target = target.setdefault(part, {})
        target[text_input.field[-1]] = value
    return client.generic(
        text_input.method.upper(),
        url,
        _json(body),
        content_type="application/json",
        **headers,
    )


def _json(body: Any) -> str:
    # ensure_ascii: a lone surrogate goes over the wire as the JSON escape "\ud800".
    return json.dumps(body, ensure_ascii=True)


def _row_counts() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.app_label in {"banking", "core", "ledger", "security", "axes", "otp_totp"}
    }


@pytest.fixture
def bearer_token() -> str:
    user = make_user("text.guard")
    new_customer(user_id=user.pk)
    return issue_tokens(user, is_verified=True).access_token


def test_the_document_has_text_inputs_in_every_location() -> None:
    locations = {text_input.location for text_input in TEXT_INPUTS}

    assert locations == {"path", "query", "header", "body"}
    assert len(TEXT_INPUTS) > 30


@pytest.mark.parametrize(
    "text_input",
    [item for item in TEXT_INPUTS if item.location != "path"],
    ids=str,
)
def test_every_text_field_of_a_body_header_or_query_declares_a_text_rule(
    text_input: TextInput,
) -> None:
    assert text_input.pattern in TEXT_PATTERNS, (
        f"{text_input}: use core.text.SingleLineText (or MultiLineText, SecretText)"
    )


@pytest.mark.parametrize(("text_input", "value"), list(_cases()))
def test_a_control_character_in_any_text_input_answers_422_and_writes_nothing(
    client: Client, bearer_token: str, text_input: TextInput, value: str
) -> None:
    before = _row_counts()

    response = _request(client, text_input, value, bearer_token)

    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation_error"
    fields = {item["field"]: item["message"] for item in problem["errors"]}
    names = {text_input.name, text_input.name.replace("-", "_").lower()}
    assert names & set(fields), fields
    message = next(fields[name] for name in names if name in fields)
    expected = {text_problem(value, _kind(text_input))}
    if value == SURROGATE:  # pydantic may refuse it first ("string_unicode"), in these words
        expected.add(text_problem(value, TextKind.SECRET))
    assert message in expected
    assert _row_counts() == before


def test_the_refusal_is_translated(client: Client, bearer_token: str) -> None:
    response = client.post(
        "/api/v1/auth/token",
        {"username": "li\x00lei", "password": "x"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "username", "message": "请在一行内输入，不要包含控制字符。"}
    ]


def test_a_path_parameter_with_a_nul_is_refused_before_it_is_looked_up(
    client: Client, bearer_token: str
) -> None:
    response = client.get(
        "/api/v1/accounts/acc_%00/transactions", HTTP_AUTHORIZATION=f"Bearer {bearer_token}"
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "account_id", "message": SINGLE_LINE_MESSAGE}]
