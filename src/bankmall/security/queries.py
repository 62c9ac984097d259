"""Reads for the security pages: second factors and API tokens of one user."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from bankmall.security.models import ApiToken, Authenticator, BackupCode, User


@dataclass(frozen=True, slots=True)
class TwoFactorOverview:
    """What the two-factor page shows: confirmed authenticators and backup codes left."""

    authenticators: list[Authenticator]
    backup_codes_left: int

    @property
    def may_remove(self) -> bool:
        """Whether one may go: the last authenticator is only ever replaced, never removed."""
        return len(self.authenticators) > 1


def two_factor_overview(user: User) -> TwoFactorOverview:
    authenticators = list(
        Authenticator.objects.filter(user=user, confirmed=True).order_by("created_at", "pk")
    )
    return TwoFactorOverview(
        authenticators=authenticators,
        backup_codes_left=BackupCode.objects.filter(code_set__user=user).count(),
    )


def live_api_tokens(user: User) -> list[ApiToken]:
    """The user's API token pairs that still work (refresh not expired, not revoked)."""
    return list(
        ApiToken.objects.filter(
            user=user, revoked_at__isnull=True, refresh_expires_at__gt=timezone.now()
        ).order_by("-created_at")
    )
