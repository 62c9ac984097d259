"""Over its request budget a client gets 429 with Retry-After, as a problem (API.md)."""

from __future__ import annotations

import os
import socket
import uuid

import pytest
from django.core.cache import caches
from django.test import Client, override_settings
from django.urls import include, path
from ninja import NinjaAPI
from ninja.throttling import AnonRateThrottle

from bankmall.api import api, install_problem_handlers

limited_api = NinjaAPI(urls_namespace="limited", docs_url=None, throttle=[AnonRateThrottle("2/m")])
install_problem_handlers(limited_api)


@limited_api.get("/ping")
def ping(request: object) -> dict[str, str]:
    return {"status": "ok"}


urlpatterns = [path("limited/", limited_api.urls), path("", include("bankmall.urls"))]

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _fresh_counters() -> None:
    caches["default"].clear()


@pytest.mark.urls(__name__)
def test_the_request_over_budget_is_a_429_problem_with_retry_after(client: Client) -> None:
    answers = [client.get("/limited/ping", REMOTE_ADDR="203.0.113.9") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    refused = answers[2]
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60


@pytest.mark.urls(__name__)
def test_budgets_are_counted_per_client(client: Client) -> None:
    for _ in range(2):
        client.get("/limited/ping", REMOTE_ADDR="203.0.113.9")

    other = client.get("/limited/ping", REMOTE_ADDR="203.0.113.10")

    assert other.status_code == 200


def test_the_real_api_has_budgets_for_anonymous_and_authenticated_clients() -> None:
    rates = sorted((type(throttle).__name__, throttle.rate) for throttle in api.throttle)  # type: ignore[union-attr]

    assert rates == [
        ("AnonRateThrottle", os.environ["API_RATE_ANONYMOUS"]),
        ("AuthRateThrottle", os.environ["API_RATE_AUTHENTICATED"]),
    ]


@pytest.mark.skipif(not _redis_reachable(), reason="needs Redis at 127.0.0.1:6379")
@pytest.mark.urls(__name__)
def test_counters_are_shared_through_redis_between_app_servers(client: Client) -> None:
    redis_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    # Ninja's throttles use django.core.cache.cache, a proxy that follows the settings.
    with override_settings(CACHES=redis_cache):
        answers = [client.get("/limited/ping", REMOTE_ADDR="203.0.113.11") for _ in range(3)]
        stored = caches["default"].get("throttle_anon_203.0.113.11")
        caches["default"].delete("throttle_anon_203.0.113.11")

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert len(stored) == 2
