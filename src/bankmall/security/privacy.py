"""Privacy: consents with withdrawal, the data-subject export, and erasure by anonymisation.

Apps that hold personal data register two functions here: one that returns what they hold
about a person (for the export) and one that anonymises it (for erasure). Erasure keeps what
the law requires: ledger entries, statements and the audit log stay, tied to the opaque
``usr_…`` id only; ``PRIVACY_RETENTION_DAYS`` says how long such records are kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Final

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from bankmall.core.audit import record_audit
from bankmall.core.canonical import to_jsonable
from bankmall.core.errors import Conflict, FieldError, InvalidInput, NotFound
from bankmall.core.ids import require_id
from bankmall.core.models import AuditRecord
from bankmall.core.outbox import record_event
from bankmall.security.models import (
    ApiToken,
    Authenticator,
    BackupCodeSet,
    Consent,
    LoginEvent,
    StepUpChallenge,
    User,
    UserSession,
)

PARTNER_LENGTH_MAX: Final = 120
AUDIT_EXPORT_MAX: Final = 10_000

Exporter = Callable[[User], Any]
Eraser = Callable[[User, str], None]
_EXPORTERS: dict[str, Exporter] = {}
_ERASERS: dict[str, Eraser] = {}


def register_personal_data(name: str, *, export: Exporter, erase: Eraser) -> None:
    """Register an app's export and erasure functions under ``name`` (e.g. ``banking``)."""
    _EXPORTERS[name] = export
    _ERASERS[name] = erase


# ------------------------------------------------------------------ showing personal data


def personal_value_for(
    viewer: User, *, value: str, masked: str, subject_id: str, field: str
) -> str:
    """``value`` for staff whose role needs full personal data (audited), else ``masked``.

    ``masked`` comes from ``security.masking``; ``subject_id`` is the person's public id and
    ``field`` names what was shown (``national_id``), both recorded in the audit log.
    """
    from bankmall.security.access import may_use_staff_permission  # noqa: PLC0415

    if not may_use_staff_permission(viewer, "security.view_personal_data"):
        return masked
    with transaction.atomic():
        record_audit(
            "security.personal_data_viewed",
            target=subject_id,
            details={"field": field},
            actor=f"user:{viewer.pk}",
        )
    return value


# ------------------------------------------------------------------ consents


def grant_consent(user: User, *, purpose: str, partner: str = "") -> Consent:
    """Record that ``user`` agrees to ``purpose`` (with ``partner`` for data sharing).

    Errors: ``validation_error`` (unknown purpose; data sharing without a partner),
    ``conflict`` (already granted and not withdrawn). Effects: a consent row, audit.
    """
    partner = partner.strip()
    if purpose not in Consent.Purpose.values:
        raise InvalidInput(errors=[FieldError("purpose", "unknown purpose")])
    if purpose == Consent.Purpose.DATA_SHARING and not 0 < len(partner) <= PARTNER_LENGTH_MAX:
        raise InvalidInput(errors=[FieldError("partner", "name the partner (1-120 characters)")])
    if purpose == Consent.Purpose.MARKETING:
        partner = ""
    with transaction.atomic():
        live = Consent.objects.select_for_update().filter(
            user=user, purpose=purpose, partner=partner, withdrawn_at__isnull=True
        )
        if live.exists():
            raise Conflict("This consent is already given")
        consent = Consent.objects.create(
            user=user, purpose=purpose, partner=partner, granted_at=timezone.now()
        )
        record_audit(
            "security.consent_granted",
            target=user.public_id,
            details={"consent": consent.public_id, "purpose": purpose, "partner": partner},
            actor=f"user:{user.pk}",
        )
        record_event(
            "privacy.consent_changed",
            aggregate_id=user.public_id,
            payload={"purpose": purpose, "partner": partner, "granted": True},
        )
    return consent


def withdraw_consent(user: User, consent_id: str) -> Consent:
    """Withdraw one of the user's own live consents. Errors: ``not_found``, ``conflict``."""
    require_id("cns", consent_id)
    with transaction.atomic():
        consent = (
            Consent.objects.select_for_update().filter(public_id=consent_id, user=user).first()
        )
        if consent is None:
            raise NotFound("No such consent")
        if consent.withdrawn_at is not None:
            raise Conflict("This consent was already withdrawn")
        consent.withdrawn_at = timezone.now()
        consent.save(update_fields=["withdrawn_at"])
        record_audit(
            "security.consent_withdrawn",
            target=user.public_id,
            details={"consent": consent.public_id, "purpose": consent.purpose},
            actor=f"user:{user.pk}",
        )
        record_event(
            "privacy.consent_changed",
            aggregate_id=user.public_id,
            payload={"purpose": consent.purpose, "partner": consent.partner, "granted": False},
        )
    return consent


def has_consent(user: User, *, purpose: str, partner: str = "") -> bool:
    """Whether ``user`` currently agrees to ``purpose`` (other apps ask before acting)."""
    return Consent.objects.filter(
        user=user, purpose=purpose, partner=partner, withdrawn_at__isnull=True
    ).exists()


# ------------------------------------------------------------------ export


def _security_data(user: User) -> dict[str, Any]:
    return {
        "profile": {
            "id": user.public_id,
            "username": user.username,
            "kind": user.kind,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "date_joined": user.date_joined,
            "last_login": user.last_login,
        },
        "consents": list(
            Consent.objects.filter(user=user).values(
                "public_id", "purpose", "partner", "granted_at", "withdrawn_at"
            )
        ),
        "sign_ins": list(
            LoginEvent.objects.filter(user=user).values(
                "outcome", "occurred_at", "ip_address", "user_agent", "channel"
            )
        ),
        "sessions": list(
            UserSession.objects.filter(user=user).values(
                "public_id", "created_at", "last_seen_at", "ended_at", "ip_address", "user_agent"
            )
        ),
        "api_tokens": list(
            ApiToken.objects.filter(user=user).values(
                "public_id", "created_at", "access_expires_at", "revoked_at"
            )
        ),
        "two_factor_devices": list(
            Authenticator.objects.filter(user=user).values(
                "public_id", "name", "confirmed", "created_at", "last_used_at"
            )
        ),
        "audit_records_about_you": list(
            AuditRecord.objects.filter(target=user.public_id)
            .order_by("id")
            .values("lane", "sequence", "occurred_at", "action")[:AUDIT_EXPORT_MAX]
        ),
    }


def export_subject_data(user: User, *, actor: str) -> dict[str, Any]:
    """Everything held about ``user``, as one JSON-able document (data-subject access).

    Effects: audit ``security.subject_data_exported``.
    """
    archive: dict[str, Any] = {
        "format": "bankmall-subject-export/1",
        "generated_at": timezone.now(),
        "subject": user.public_id,
        "security": _security_data(user),
    }
    for name, exporter in sorted(_EXPORTERS.items()):
        archive[name] = exporter(user)
    with transaction.atomic():
        record_audit(
            "security.subject_data_exported",
            target=user.public_id,
            details={"sections": sorted(archive)},
            actor=actor,
        )
    return dict(to_jsonable(archive))


# ------------------------------------------------------------------ erasure


def validate_erasure(parameters: dict[str, Any]) -> None:
    user_id = parameters.get("user_id")
    user = User.objects.filter(public_id=str(user_id)).first()
    if user is None or user.erased_at is not None:
        raise InvalidInput(errors=[FieldError("user_id", "no such person, or already erased")])
    if user.kind == "staff":
        raise InvalidInput(errors=[FieldError("user_id", "staff records are not erased here")])


def erase_personal_data(*, user_id: str, actor: str) -> User:
    """Anonymise a customer's or merchant user's personal data; keep what the law requires.

    Effects: name, e-mail and username replaced, password unusable, account inactive,
    two-factor devices deleted, sign-in addresses and browsers blanked, consents withdrawn,
    sessions ended and tokens revoked, every registered app's eraser run; audit
    ``security.personal_data_erased``. Ledger entries and the audit log are kept, tied to the
    opaque id only. Errors: ``not_found``, ``conflict`` (already erased).
    """
    from bankmall.security.actions import sign_out_everywhere  # noqa: PLC0415

    require_id("usr", user_id)
    now = timezone.now()
    with transaction.atomic():
        user = User.objects.select_for_update().filter(public_id=user_id).first()
        if user is None or user.kind == "staff":
            raise NotFound("No such person")
        if user.erased_at is not None:
            raise Conflict("This person's data was already erased")
        sign_out_everywhere(user, actor=actor)
        # After this point the operation must succeed.
        user.username = f"erased-{user.public_id}"
        user.first_name = user.last_name = user.email = ""
        user.set_unusable_password()
        user.is_active = False
        user.erased_at = now
        user.save()
        user.groups.set(Group.objects.none())
        Authenticator.objects.filter(user=user).delete()
        BackupCodeSet.objects.filter(user=user).delete()
        StepUpChallenge.objects.filter(user=user).delete()
        LoginEvent.objects.filter(user=user).update(ip_address=None, user_agent="")
        UserSession.objects.filter(user=user).update(ip_address=None, user_agent="")
        Consent.objects.filter(user=user, withdrawn_at__isnull=True).update(withdrawn_at=now)
        for _name, eraser in sorted(_ERASERS.items()):
            eraser(user, actor)
        record_audit(
            "security.personal_data_erased",
            target=user.public_id,
            details={"retention_days": settings.PRIVACY_RETENTION_DAYS},
            actor=actor,
        )
        record_event("privacy.erased", aggregate_id=user.public_id, payload={})
    return user


# ------------------------------------------------------------------ retention

STEP_UP_KEEP: Final = dt.timedelta(days=1)


def purge_expired_records(
    business_date: dt.date, progress: Callable[[int, int], None]
) -> dict[str, int | str]:
    """End-of-day step: delete sign-in records older than ``PRIVACY_RETENTION_DAYS``, step-up
    challenges older than a day and API tokens a day after their refresh expired.

    Runs inside the end-of-day step's transaction; audit ``security.records_purged`` with the
    counts. Ledger and audit records are never purged here.
    """
    now = timezone.now()
    cutoff = now - dt.timedelta(days=settings.PRIVACY_RETENTION_DAYS)
    counts = {
        "sign_ins": LoginEvent.objects.filter(occurred_at__lt=cutoff).delete()[0],
        "sessions": UserSession.objects.filter(
            ended_at__isnull=False, ended_at__lt=cutoff
        ).delete()[0],
        "step_ups": StepUpChallenge.objects.filter(created_at__lt=now - STEP_UP_KEEP).delete()[0],
        "api_tokens": ApiToken.objects.filter(refresh_expires_at__lt=now - STEP_UP_KEEP).delete()[
            0
        ],
    }
    record_audit(
        "security.records_purged",
        details={**counts, "business_date": business_date.isoformat()},
        actor="eod",
    )
    progress(1, 1)
    return dict(counts)
