"""The security app's endpoints in the authorisation matrix."""

from __future__ import annotations

from tests.authz import (
    CUSTOMER_A,
    Endpoint,
    World,
    api_for,
    owned_by,
    page_for,
    public,
    staff_page,
)
from tests.signed_in import authenticator


def prepare(world: World) -> None:
    world.ids["authenticator_a"] = authenticator(world.users[CUSTOMER_A]).public_id


def _remove_authenticator(world: World) -> str:
    return f"security/two-factor/authenticators/{world.ids['authenticator_a']}/remove"


def _challenge(world: World) -> str:
    return f"security/step-up/{world.ids['challenge_a']}/"


def _withdraw(world: World) -> str:
    return f"security/privacy/consents/{world.ids['consent_a']}/withdraw"


def _approval(world: World) -> str:
    return f"backoffice/approvals/{world.ids['approval']}/"


def _decide(world: World) -> str:
    return f"backoffice/approvals/{world.ids['approval']}/decide"


ENDPOINTS = [
    # Sign-in pages are open to everyone; the later steps need a pending password step.
    Endpoint("GET", "login/", public(200)),
    Endpoint("GET", "login/verify/", public(302)),
    Endpoint("GET", "login/enrol/", public(302)),
    Endpoint("POST", "logout/", public(302), fresh_client=True),
    Endpoint("GET", "password-reset/", public(200)),
    Endpoint("GET", "password-reset/sent/", public(200)),
    Endpoint(
        "GET",
        "password-reset/<uidb64>/<token>/",
        public(200),
        path="password-reset/MQ/not-a-token/",
    ),
    Endpoint("GET", "password-reset/complete/", public(200)),
    # Pages of every signed-in principal.
    Endpoint("GET", "security/backup-codes/", page_for()),
    Endpoint("GET", "security/", page_for()),
    # The idle-timeout warning: the status poll answers everyone (signed_in false for visitors).
    Endpoint("GET", "security/session/status", public(200)),
    Endpoint("POST", "security/session/keep-alive", page_for()),
    # Two-factor changes need a fresh step-up first: a signed-in caller is sent there (302).
    Endpoint("GET", "security/two-factor/", page_for(ok=302)),
    Endpoint("GET", "security/two-factor/authenticators/new/", page_for(ok=302)),
    Endpoint(
        "POST",
        "security/two-factor/authenticators/<str:device_id>/remove",
        # Another party's id is 404 before any step-up; the owner is sent to the step-up.
        owned_by(CUSTOMER_A, 302, page_for()),
        path=_remove_authenticator,
    ),
    Endpoint("POST", "security/two-factor/backup-codes", page_for(ok=302)),
    Endpoint("GET", "security/sessions/", page_for()),
    Endpoint("POST", "security/sign-out-everywhere/", page_for(ok=302), fresh_client=True),
    Endpoint(
        "GET",
        "security/step-up/<str:challenge_id>/",
        owned_by(CUSTOMER_A, 200, page_for()),
        path=_challenge,
    ),
    Endpoint("GET", "security/privacy/", page_for()),
    Endpoint("POST", "security/privacy/consents", page_for(ok=302), body={"purpose": "x"}),
    Endpoint(
        "POST",
        "security/privacy/consents/<str:consent_id>/withdraw",
        owned_by(CUSTOMER_A, 302, page_for()),
        path=_withdraw,
    ),
    Endpoint("GET", "security/privacy/export", page_for(ok=302)),
    # The back office.
    Endpoint("GET", "backoffice/approvals/", staff_page("security.access_backoffice")),
    Endpoint(
        "GET",
        "backoffice/approvals/<str:request_id>/",
        staff_page("security.access_backoffice"),
        path=_approval,
    ),
    Endpoint(
        "POST",
        "backoffice/approvals/<str:request_id>/decide",
        staff_page("security.decide_approvals", ok=302),
        path=_decide,
        body={"decision": "reject"},
    ),
    Endpoint("GET", "backoffice/staff/", staff_page("security.manage_staff")),
    Endpoint("POST", "backoffice/staff/propose-role", staff_page("security.manage_staff", ok=302)),
    Endpoint(
        "POST", "backoffice/staff/propose-erasure", staff_page("security.manage_staff", ok=302)
    ),
    Endpoint("GET", "backoffice/audit/", staff_page("security.view_audit_log")),
    Endpoint("GET", "backoffice/audit/export.jsonl", staff_page("security.export_audit_log")),
    # The API: token endpoints are public (they are the sign-in); the rest need a principal.
    Endpoint("POST", "api/v1/auth/token", public(422), body={}, is_json=True),
    Endpoint("POST", "api/v1/auth/refresh", public(422), body={}, is_json=True),
    Endpoint("POST", "api/v1/auth/revoke", public(422), body={}, is_json=True),
    Endpoint("POST", "api/v1/auth/step-up", api_for(ok=422), body={}, is_json=True),
    Endpoint("GET", "api/v1/me", api_for()),
]
