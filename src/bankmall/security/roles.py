"""Staff roles: Django groups with explicit permissions (no role is a superuser).

``ROLES`` is the single source of truth; a data migration creates the groups from it and
``sync_roles`` (run after every migrate) adds permissions that later apps define, so a role
never silently lacks a permission its name promises. The auditor reads everything and changes
nothing: it holds every ``view_*`` permission and the audit permissions, no others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    label: str | Promise
    permissions: tuple[str, ...]  # "app_label.codename"
    reads_everything: bool = False


_BASE: Final = ("security.access_backoffice",)

ROLES: Final[tuple[Role, ...]] = (
    Role("teller", _("Teller"), (*_BASE, "security.teller_operations")),
    Role(
        "kyc_reviewer",
        _("KYC reviewer"),
        (*_BASE, "security.review_kyc", "security.view_personal_data"),
    ),
    Role("risk_analyst", _("Risk analyst"), (*_BASE, "security.analyse_risk")),
    Role("settlement_officer", _("Settlement officer"), (*_BASE, "security.settle_payments")),
    Role("dispute_arbitrator", _("Dispute arbitrator"), (*_BASE, "security.arbitrate_disputes")),
    Role("marketing_manager", _("Marketing manager"), (*_BASE, "security.manage_marketing")),
    Role(
        "auditor",
        _("Auditor"),
        (
            *_BASE,
            "security.view_audit_log",
            "security.export_audit_log",
            "security.view_security_events",
        ),
        reads_everything=True,
    ),
    Role(
        "administrator",
        _("Administrator"),
        (
            *_BASE,
            "security.view_audit_log",
            "security.export_audit_log",
            "security.manage_staff",
            "security.decide_approvals",
            "security.view_security_events",
        ),
    ),
)
ROLE_NAMES: Final = tuple(role.name for role in ROLES)

# Roles of merchant users (several users per merchant). Which merchant a user belongs to is the
# mall's business; what each role may do is decided here, like the staff roles.
MERCHANT_ROLES: Final[tuple[Role, ...]] = (
    Role(
        "merchant_owner",
        _("Merchant owner"),
        (
            "security.merchant_manage_users",
            "security.merchant_operate",
            "security.merchant_view_finance",
        ),
    ),
    Role("merchant_operator", _("Merchant operator"), ("security.merchant_operate",)),
    Role("merchant_finance", _("Merchant finance"), ("security.merchant_view_finance",)),
)


def role_named(name: str) -> Role | None:
    """The staff role ``name`` (merchant roles are never staff roles)."""
    return next((role for role in ROLES if role.name == name), None)
