"""Every API error is an RFC 9457 problem+json body; no client input yields a 500."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import include, path
from django.utils import translation
from django.utils.module_loading import autodiscover_modules
from ninja import NinjaAPI, Schema

from bankmall.api import install_problem_handlers
from bankmall.banking.errors import LimitExceeded
from bankmall.core.errors import BankmallError, Conflict
from bankmall.core.problems import field_errors_from_pydantic
from bankmall.core.schemas import MoneySchema

# A test-only API carrying the production error handlers and a Money body, so the mechanism
# is exercised with inputs the real endpoints will share.
probe_api = NinjaAPI(urls_namespace="probe", docs_url=None)
install_problem_handlers(probe_api)


class PaymentLike(Schema):
    amount: MoneySchema
    reference: str = ""


@probe_api.post("/echo-money")
def echo_money(request: object, payload: PaymentLike) -> dict[str, object]:
    money = payload.amount.to_money()
    return {"amount": money.amount_minor, "currency": money.currency}


@probe_api.post("/conflict")
def always_conflict(request: object) -> None:
    raise Conflict("The thing is already done")


@probe_api.get("/bug")
def bug(request: object) -> None:
    raise ZeroDivisionError("a bug, not a client error")


urlpatterns = [path("probe/", probe_api.urls), path("", include("bankmall.urls"))]
handler404 = "bankmall.web.views.not_found"
handler500 = "bankmall.web.views.server_error"
pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


def _post(client: Client, url: str, body: object) -> tuple[int, str, dict[str, object]]:
    response = client.post(url, data=json.dumps(body), content_type="application/json")
    return response.status_code, response["Content-Type"], response.json()


def test_unknown_api_path_is_a_404_problem(client: Client) -> None:
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "http://testserver/problems/not-found"
    assert body["title"] == "Not found"
    assert body["status"] == 404
    assert body["code"] == "not_found"
    assert body["request_id"] == response["X-Request-ID"]


def test_unknown_currency_resource_is_a_404_problem(client: Client) -> None:
    response = client.get("/api/v1/currencies/XYZ")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert response.json()["detail"] == "No currency 'XYZ'"


def test_bad_query_parameter_is_a_422_problem_naming_the_field(client: Client) -> None:
    response = client.get("/api/v1/currencies?limit=1000")

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["type"] == "http://testserver/problems/validation-error"
    assert [error["field"] for error in body["errors"]] == ["limit"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 12.5, "currency": "CNY"}, "amount.amount"),
        ({"amount": 12.0, "currency": "CNY"}, "amount.amount"),
        ({"amount": "1250", "currency": "CNY"}, "amount.amount"),
        ({"amount": True, "currency": "CNY"}, "amount.amount"),
        ({"amount": 1250}, "amount.currency"),
        ({"amount": 1250, "currency": "XYZ"}, "amount.currency"),
        ({"amount": 1250, "currency": "cny"}, "amount.currency"),
        ({"amount": 2**63, "currency": "CNY"}, "amount.amount"),
        ({"amount": 1250, "currency": "CNY", "extra": 1}, "amount.extra"),
    ],
)
def test_money_that_is_not_int_minor_units_with_a_currency_is_a_422(
    client: Client, body: object, field: str
) -> None:
    status, content_type, problem = _post(client, "/probe/echo-money", {"amount": body})

    assert (status, content_type) == (422, "application/problem+json")
    assert problem["code"] == "validation_error"
    assert [error["field"] for error in problem["errors"]] == [field]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("language", "message"),
    [("en", "'XYZ' is not an ISO 4217 currency code"), ("zh-hans", "'XYZ' 不是 ISO 4217 货币代码")],
)
def test_an_unknown_currency_keeps_the_english_title_whatever_the_language(
    client: Client, language: str, message: str
) -> None:
    """The title is the stable English one; the field's message follows the request language,
    like every message the domain translates when it raises it."""
    response = client.post(
        "/probe/echo-money",
        data=json.dumps({"amount": {"amount": 1250, "currency": "XYZ"}}),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE=language,
    )
    problem = response.json()

    assert (response.status_code, problem["title"]) == (422, "The request is not valid")
    assert [error["field"] for error in problem["errors"]] == ["amount.currency"]
    assert message in problem["errors"][0]["message"]


def test_valid_money_passes_through(client: Client) -> None:
    status, _, body = _post(
        client, "/probe/echo-money", {"amount": {"amount": 1250, "currency": "CNY"}}
    )

    assert status == 200
    assert body == {"amount": 1250, "currency": "CNY"}


def test_unparseable_json_is_a_problem_not_a_500(client: Client) -> None:
    response = client.post("/probe/echo-money", data="{not json", content_type="application/json")

    assert response.status_code in {400, 422}
    assert response["Content-Type"] == "application/problem+json"


def test_domain_error_keeps_its_code_and_status(client: Client) -> None:
    status, content_type, body = _post(client, "/probe/conflict", {})

    assert (status, content_type) == (409, "application/problem+json")
    assert body["code"] == "conflict"
    assert body["detail"] == "The thing is already done"


def test_wrong_method_is_a_405_problem(client: Client) -> None:
    response = client.delete("/api/v1/currencies/CNY")

    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "method_not_allowed"


def test_a_bug_is_a_500_problem_without_internals(client: Client) -> None:
    client.raise_request_exception = False
    response = client.get("/probe/bug")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "internal_error"
    assert "ZeroDivision" not in response.content.decode()


def test_openapi_document_lists_operations_and_problem_responses(client: Client) -> None:
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    operation = document["paths"]["/api/v1/currencies/{code}"]["get"]
    assert set(operation["responses"]) == {"200", "404", "422"}
    not_found = operation["responses"]["404"]["content"]
    assert not_found == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemSchema"}}
    }


def test_problem_codes_are_documented_at_their_type_uri(client: Client) -> None:
    index = client.get("/problems/")
    detail = client.get("/problems/validation-error")
    unknown = client.get("/problems/no-such-problem")

    assert index.status_code == 200
    assert "idempotency_key_reused" in index.content.decode()
    assert detail.status_code == 200
    assert "422" in detail.content.decode()
    assert unknown.status_code == 404


def test_every_problem_reads_in_chinese_on_the_reference_pages(client: Client) -> None:
    """Each registered problem's title and meaning come from the catalogues; the API keeps
    the stable English title."""
    autodiscover_modules("errors")
    problems = list(BankmallError.registry.values())
    chinese = client.get("/problems/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    untranslated = [cls.code for cls in problems if f">{cls.title}</td>" in chinese]
    assert untranslated == []
    assert ">超过转账限额</td>" in chinese
    detail = client.get("/problems/limit-exceeded", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "金额超过该账户在此渠道的单笔或每日限额。" in detail.content.decode()
    english = client.get("/problems/limit-exceeded", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Transfer limit exceeded" in english
    assert LimitExceeded.title == "Transfer limit exceeded"


@pytest.mark.parametrize(
    ("body", "language", "messages"),
    [
        ({"amount": {"amount": 1250}}, "en", ["This field is required."]),
        ({"amount": {"amount": 1250}}, "zh-hans", ["此项必填。"]),
        ({"amount": {"amount": 12.5, "currency": "CNY"}}, "zh-hans", ["请输入整数。"]),
        ({"amount": {"amount": 1, "currency": "CNY"}, "reference": 5}, "en", ["Enter text."]),
        (
            {"amount": {"amount": 1, "currency": "CNY", "extra": 1}},
            "zh-hans",
            ["此处不应有此字段。"],
        ),
        (
            {"amount": {"amount": 1250, "currency": "XYZ"}},
            "en",
            ["'XYZ' is not an ISO 4217 currency code"],
        ),
    ],
)
def test_field_messages_follow_the_request_language(
    client: Client, body: object, language: str, messages: list[str]
) -> None:
    # pydantic's own messages are English only and prefix a validator's with "Value error, ".
    response = client.post(
        "/probe/echo-money",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE=language,
    )

    assert response.status_code == 422
    assert [error["message"] for error in response.json()["errors"]] == messages


def test_a_length_limit_names_the_limit_in_the_request_language() -> None:
    item = {
        "type": "string_too_long",
        "loc": ("body", "payload", "name"),
        "msg": "x",
        "ctx": {"max_length": 140},
    }
    with translation.override("zh-hans"):
        (error,) = field_errors_from_pydantic([item])

    assert (error.field, error.message) == ("name", "请最多输入 140 个字符。")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_query_parameter_given_twice_is_a_422_naming_it(client: Client, language: str) -> None:
    # No API parameter is a list; Django would silently keep the last of the values.
    response = client.get("/api/v1/currencies?limit=5&limit=6", HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 422
    message = {"en": "Give this parameter once.", "zh-hans": "此参数只能提供一次。"}[language]
    assert response.json()["errors"] == [{"field": "limit", "message": message}]
