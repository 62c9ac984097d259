"""OAuth2 scopes for partner applications, named ``<area>:<verb>`` (API.md).

The partner issue brings the flows (client credentials, authorization code with PKCE) and
adds scopes as its endpoints appear; the list and the application model live here so every
app checks scopes the same way.
"""

from __future__ import annotations

import re
from typing import Final

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

SCOPE_PATTERN: Final = re.compile(r"^[a-z][a-z_]*:(read|write)$")

SCOPES: Final[dict[str, str | Promise]] = {
    "accounts:read": _("Read the customer's accounts and balances"),
    "transactions:read": _("Read the customer's account history"),
    "payments:read": _("Read payments"),
    "payments:write": _("Create payments"),
    "merchants:read": _("Read the merchant's profile, orders and settlements"),
    "webhooks:write": _("Manage webhook subscriptions"),
}
assert all(SCOPE_PATTERN.match(scope) for scope in SCOPES)


def unknown_scopes(requested: list[str]) -> list[str]:
    return [scope for scope in requested if scope not in SCOPES]
