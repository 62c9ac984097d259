"""API bearer tokens: issue (after password and one-time code), refresh, revoke, resolve.

Tokens are 256-bit random strings with a readable prefix (``bma_`` access, ``bmr_`` refresh);
only their SHA-256 hashes are stored, so a database leak yields no usable token. A refresh
token works once: refreshing revokes its pair. Presenting an already-used refresh token again
means it was stolen or replayed, so every token of that user is revoked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from bankmall.core.audit import record_audit
from bankmall.core.outbox import record_event
from bankmall.security.errors import InvalidCredentials
from bankmall.security.models import ApiToken, User, UserKind

ACCESS_PREFIX: Final = "bma_"
REFRESH_PREFIX: Final = "bmr_"
TOKEN_KINDS: Final = (UserKind.CUSTOMER, UserKind.MERCHANT)


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    token: ApiToken


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_pair(user: User, *, is_verified: bool, now: dt.datetime) -> IssuedTokens:
    access = ACCESS_PREFIX + secrets.token_urlsafe(32)
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        access_hash=token_hash(access),
        refresh_hash=token_hash(refresh),
        created_at=now,
        access_expires_at=now + dt.timedelta(seconds=settings.API_ACCESS_TOKEN_SECONDS),
        refresh_expires_at=now + dt.timedelta(seconds=settings.API_REFRESH_TOKEN_SECONDS),
        is_verified=is_verified,
    )
    return IssuedTokens(
        access_token=access,
        refresh_token=refresh,
        expires_in=settings.API_ACCESS_TOKEN_SECONDS,
        token=token,
    )


def issue_tokens(user: User, *, is_verified: bool) -> IssuedTokens:
    """Issue a token pair to ``user``, who has just proved every factor their kind requires.

    Effects: one ``ApiToken``, audit ``security.token_issued``, event ``security.signed_in``
    (channel ``api``; the login notification). Errors: ``invalid_credentials`` for kinds that
    may not hold API tokens (staff use the back office).
    """
    if user.kind not in TOKEN_KINDS or not user.is_active:
        raise InvalidCredentials()
    now = timezone.now()
    with transaction.atomic():
        issued = _new_pair(user, is_verified=is_verified, now=now)
        record_audit(
            "security.token_issued",
            target=user.public_id,
            details={"token": issued.token.public_id},
            actor=f"user:{user.pk}",
        )
        record_event(
            "security.signed_in",
            aggregate_id=user.public_id,
            payload={"user": user.public_id, "channel": "api"},
        )
    return issued


def refresh_tokens(refresh_token: str) -> IssuedTokens:
    """Swap a valid refresh token for a new pair; the old pair stops working.

    Errors: ``invalid_credentials`` for an unknown, expired or already-used token (a reused
    token also revokes every token of its user).
    """
    now = timezone.now()
    with transaction.atomic():
        token = (
            ApiToken.objects.select_for_update()
            .select_related("user")
            .filter(refresh_hash=token_hash(refresh_token))
            .first()
        )
        if token is None or token.refresh_expires_at <= now or not token.user.is_active:
            raise InvalidCredentials()
        if token.revoked_at is not None:
            _revoke_all(token.user, now=now, reason="refresh_token_reused")
        else:
            # After this point the operation must succeed.
            token.revoked_at = now
            token.save(update_fields=["revoked_at"])
            issued = _new_pair(token.user, is_verified=token.is_verified, now=now)
            record_audit(
                "security.token_refreshed",
                target=token.user.public_id,
                details={"old": token.public_id, "new": issued.token.public_id},
                actor=f"user:{token.user.pk}",
            )
            return issued
    raise InvalidCredentials()


def _revoke_all(user: User, *, now: dt.datetime, reason: str) -> int:
    count = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
    record_audit(
        "security.tokens_revoked",
        target=user.public_id,
        details={"count": count, "reason": reason},
        actor=f"user:{user.pk}",
    )
    return count


def revoke_token(token_value: str) -> bool:
    """Revoke the pair that ``token_value`` (access or refresh) belongs to.

    Returns whether a live pair was revoked; an unknown token changes nothing (RFC 7009 answers
    the same either way).
    """
    digest = token_hash(token_value)
    with transaction.atomic():
        token = (
            ApiToken.objects.select_for_update()
            .filter(revoked_at__isnull=True)
            .filter(access_hash=digest)
            .first()
        ) or (
            ApiToken.objects.select_for_update()
            .filter(revoked_at__isnull=True, refresh_hash=digest)
            .first()
        )
        if token is None:
            return False
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_audit(
            "security.token_revoked",
            target=token.user.public_id,
            details={"token": token.public_id},
            actor=f"user:{token.user_id}",
        )
    return True


def revoke_all_tokens(user: User, *, reason: str) -> int:
    """Revoke every live token of ``user`` (sign out everywhere, password reset, erasure)."""
    with transaction.atomic():
        return _revoke_all(user, now=timezone.now(), reason=reason)


def user_for_access_token(request: HttpRequest, access_token: str) -> User | None:
    """The active user a live access token belongs to, or ``None``; remembers the token."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(
            access_hash=token_hash(access_token),
            revoked_at__isnull=True,
            access_expires_at__gt=timezone.now(),
        )
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    request.api_token = token  # type: ignore[attr-defined]
    return token.user
