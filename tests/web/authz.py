"""Shared pages, reference data and the Django admin in the authorisation matrix."""

from __future__ import annotations

from tests.authz import Endpoint, public, role_holds, staff_page


def _admin_index(principal: str) -> int:
    # The admin redirects everyone it does not admit to the sign-in.
    return 200 if role_holds(principal, "security.access_backoffice") else 302


ENDPOINTS = [
    Endpoint("GET", "", public(200)),
    Endpoint("GET", "healthz", public(200)),
    Endpoint("GET", "favicon.ico", public(301)),
    Endpoint("GET", "problems/", public(200)),
    Endpoint("GET", "problems/<slug:slug>", public(200), path="problems/not-found"),
    Endpoint("POST", "i18n/setlang/", public(302), body={"language": "zh-hans"}),
    Endpoint("GET", "api/v1/openapi.json", public(200)),
    Endpoint("GET", "api/v1/docs", public(200)),
    Endpoint("GET", "api/v1/", public(404)),
    Endpoint("GET", "api/v1/currencies", public(200)),
    Endpoint("GET", "api/v1/currencies/<code>", public(200), path="api/v1/currencies/CNY"),
    Endpoint("GET", "backoffice/", staff_page("security.access_backoffice")),
    # The admin's own login form is replaced by the two-factor sign-in.
    Endpoint("GET", "admin/login/", public(302)),
    # Every other admin page is wrapped by the admin site, whose has_permission admits only
    # verified staff with back-office access; the matrix test checks that rule for each one.
    Endpoint("GET", "admin/", _admin_index),
]
