"""Every URL pattern and API operation, asked by every kind of principal.

The matrix lives in ``tests/<app>/authz.py`` files (see ``tests/authz.py``). An endpoint that no
file lists fails here: a new page or operation must state who may use it before it ships.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from bankmall.security.approvals import propose
from bankmall.security.models import StepUpChallenge, UserKind
from bankmall.security.privacy import grant_consent
from bankmall.security.stepup import credential_of
from bankmall.security.views import admin_has_permission
from tests.authz import (
    ANONYMOUS,
    CUSTOMER_A,
    CUSTOMER_B,
    MERCHANT,
    PRINCIPALS,
    STAFF_PRINCIPALS,
    Endpoint,
    World,
)
from tests.signed_in import make_user, sign_in

pytestmark = pytest.mark.django_db
TESTS_DIR = Path(__file__).resolve().parent.parent


def _modules() -> list[Any]:
    return [
        importlib.import_module(f"tests.{path.parent.name}.authz")
        for path in sorted(TESTS_DIR.glob("*/authz.py"))
    ]


def matrix() -> list[Endpoint]:
    return [endpoint for module in _modules() for endpoint in module.ENDPOINTS]


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def routes() -> dict[str, Any]:
    """Every route (the admin's own pages aside) with its view callback."""
    return {
        route: callback
        for route, callback in _walk(get_resolver().url_patterns)
        if not route.startswith("admin/") or route in {"admin/", "admin/login/"}
    }


def api_operations() -> set[tuple[str, str]]:
    """(method, route) of every Ninja operation."""
    found: set[tuple[str, str]] = set()
    for route, callback in _walk(get_resolver().url_patterns):
        view = getattr(callback, "__self__", None)
        for operation in getattr(view, "operations", []):
            found.update((method, route) for method in operation.methods)
    return found


def test_every_endpoint_is_in_the_matrix() -> None:
    listed_routes = {endpoint.route for endpoint in matrix()}
    listed_operations = {(endpoint.method, endpoint.route) for endpoint in matrix()}

    unlisted = sorted(set(routes()) - listed_routes)
    unlisted_operations = sorted(api_operations() - listed_operations)
    stale = sorted(listed_routes - set(routes()))

    assert unlisted == [], "add these to a tests/<app>/authz.py matrix"
    assert unlisted_operations == [], "add these API operations to the matrix"
    assert stale == [], "these matrix entries name no route"


def _page(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


def test_every_admin_page_is_behind_the_admin_sites_permission_check() -> None:
    admin_views = [
        (route, callback)
        for route, callback in _walk(get_resolver().url_patterns)
        if route.startswith("admin/") and route not in {"admin/", "admin/login/"}
    ]
    guard = admin.site.admin_view(_page).__code__
    unguarded = [
        route
        for route, callback in admin_views
        if getattr(callback, "__code__", None) is not guard
        and not (hasattr(callback, "admin_site") or hasattr(callback, "model_admin"))
    ]

    assert admin_views
    assert unguarded == []
    assert admin.site.has_permission == admin_has_permission


@pytest.fixture
def world() -> World:
    users = {
        CUSTOMER_A: make_user("customer.a"),
        CUSTOMER_B: make_user("customer.b"),
        MERCHANT: make_user("merchant.m", kind=UserKind.MERCHANT),
    }
    for principal in STAFF_PRINCIPALS:
        role = principal.partition(":")[2]
        users[principal] = make_user(f"staff.{role}", kind=UserKind.STAFF, roles=(role,))
    maker = make_user("staff.maker", kind=UserKind.STAFF, roles=("administrator",))
    world = World(users=users)
    world.ids["consent_a"] = grant_consent(users[CUSTOMER_A], purpose="marketing").public_id
    world.ids["approval"] = propose(
        action_type="security.grant_role",
        parameters={"user_id": users["staff:teller"].public_id, "role": "auditor"},
        reason="matrix test",
        maker=maker,
    ).public_id
    for module in _modules():
        prepare = getattr(module, "prepare", None)
        if prepare is not None:
            prepare(world)  # Each app adds the objects its endpoints are asked about.
    return world


def _client_for(principal: str, world: World) -> Client:
    client = Client()
    if principal != ANONYMOUS:
        sign_in(client, world.users[principal])
    return client


def _call(client: Client, endpoint: Endpoint, world: World) -> int:
    path = endpoint.concrete_path(world)
    if endpoint.method == "GET":
        return client.get(path).status_code
    if endpoint.method == "DELETE":
        return client.delete(path).status_code
    if endpoint.is_json:
        return client.post(path, endpoint.body or {}, content_type="application/json").status_code
    return client.post(path, endpoint.body or {}).status_code


def test_each_principal_gets_the_expected_status_everywhere(world: World) -> None:
    clients = {principal: _client_for(principal, world) for principal in PRINCIPALS}
    request = type("Request", (), {"session": clients[CUSTOMER_A].session})()
    world.ids["challenge_a"] = StepUpChallenge.objects.create(
        user=world.users[CUSTOMER_A],
        credential=credential_of(request),
        purpose="matrix.test",
        created_at=timezone.now(),
    ).public_id
    mismatches = []

    for endpoint in matrix():
        for principal in PRINCIPALS:
            client = _client_for(principal, world) if endpoint.fresh_client else clients[principal]
            status = _call(client, endpoint, world)
            expected = endpoint.rule(principal)
            if status != expected:
                mismatches.append(
                    f"{endpoint.method} {endpoint.route} as {principal}: {status} != {expected}"
                )

    assert len(matrix()) * len(PRINCIPALS) > 400  # Every entry was asked by every principal.
    assert mismatches == []
