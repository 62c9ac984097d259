"""The authorisation matrix's vocabulary: principals, the world they act in, and rules.

Each app lists its endpoints in ``tests/<app>/authz.py`` as ``ENDPOINTS: list[Endpoint]``;
``tests/security/test_authorisation_matrix.py`` walks every URL pattern and API operation,
fails for any that no list names, and checks every entry with every principal. A rule says
which status each principal must get, so a new staff role or permission changes the
expectations in one place (``bankmall.security.roles``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bankmall.security.models import User
from bankmall.security.roles import ROLES

ANONYMOUS = "anonymous"
CUSTOMER_A = "customer_a"
CUSTOMER_B = "customer_b"
MERCHANT = "merchant"
STAFF_PRINCIPALS = tuple(f"staff:{role.name}" for role in ROLES)
PRINCIPALS = (ANONYMOUS, CUSTOMER_A, CUSTOMER_B, MERCHANT, *STAFF_PRINCIPALS)
KIND_OF = {CUSTOMER_A: "customer", CUSTOMER_B: "customer", MERCHANT: "merchant"}


def kind_of(principal: str) -> str | None:
    if principal == ANONYMOUS:
        return None
    return "staff" if principal.startswith("staff:") else KIND_OF[principal]


def role_holds(principal: str, permission: str) -> bool:
    """Whether the staff principal's role grants ``permission`` (as ``sync_roles`` sets it)."""
    if not principal.startswith("staff:"):
        return False
    role = next(role for role in ROLES if f"staff:{role.name}" == principal)
    codename = permission.partition(".")[2]
    return permission in role.permissions or (
        role.reads_everything and codename.startswith("view_")
    )


@dataclass
class World:
    """The objects endpoints are asked about; ``users`` maps principal to user."""

    users: dict[str, User]
    ids: dict[str, str] = field(default_factory=dict)


Rule = Callable[[str], int]
PathOf = Callable[[World], str]


@dataclass(frozen=True)
class Endpoint:
    """One method on one URL pattern, with the concrete path to call and the rule."""

    method: str
    route: str  # The pattern as Django lists it, e.g. "security/privacy/export".
    rule: Rule
    path: str | PathOf = ""
    body: dict[str, Any] | None = None
    is_json: bool = False
    # Calls that end the caller's session run on a fresh client of their own.
    fresh_client: bool = False

    def concrete_path(self, world: World) -> str:
        if callable(self.path):
            return "/" + self.path(world).lstrip("/")
        return "/" + (self.path or self.route)


def public(status: int = 200) -> Rule:
    return lambda principal: status


def page_for(*kinds: str, ok: int = 200, anonymous: int = 302) -> Rule:
    """A page for signed-in principals of ``kinds`` (any kind if none)."""

    def rule(principal: str) -> int:
        kind = kind_of(principal)
        if kind is None:
            return anonymous
        return ok if not kinds or kind in kinds else 403

    return rule


def staff_page(permission: str, ok: int = 200, anonymous: int = 302) -> Rule:
    """A back-office page: signed-in staff whose role holds ``permission``."""

    def rule(principal: str) -> int:
        if kind_of(principal) is None:
            return anonymous
        return ok if role_holds(principal, permission) else 403

    return rule


def api_for(*kinds: str, ok: int = 200) -> Rule:
    return page_for(*kinds, ok=ok, anonymous=401)


def owned_by(owner: str, ok: int, base: Rule, other: int = 404) -> Rule:
    """The owner gets ``ok``; every other principal whom ``base`` lets in gets ``other``."""

    def rule(principal: str) -> int:
        expected = base(principal)
        if expected in {401, 302, 403}:
            return expected
        return ok if principal == owner else other

    return rule
