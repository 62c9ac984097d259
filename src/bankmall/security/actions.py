"""State changes of identities. Each action is atomic and audited."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from importlib import import_module
from typing import Final

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import login as otp_login
from django_otp import match_token, user_has_device
from django_otp.models import Device

from bankmall.core.audit import record_audit
from bankmall.core.errors import Conflict, FieldError, InvalidInput, NotFound
from bankmall.core.ids import is_valid_id
from bankmall.core.outbox import record_event
from bankmall.core.text import TextKind, text_problems, without_refused
from bankmall.security.errors import (
    InvalidCredentials,
    InvalidOneTimeCode,
    LastAuthenticator,
    SignInLocked,
    UnknownRole,
    UsernameTaken,
)
from bankmall.security.models import (
    Authenticator,
    BackupCode,
    BackupCodeSet,
    LoginEvent,
    PartnerApplication,
    User,
    UserKind,
    UserSession,
    backup_code_hash,
)
from bankmall.security.roles import role_named
from bankmall.security.scopes import unknown_scopes

USERNAME_LENGTH_MIN = 3
USERNAME_LENGTH_MAX = 150
USER_AGENT_LENGTH_MAX: Final = 256
BACKUP_CODE_COUNT: Final = 10
LAST_ACTIVITY_SESSION_KEY: Final = "security.last_activity"
PARTNER_NAME_LENGTH_MAX: Final = 120


def _login_problems(username: str, email: str, password: str) -> list[FieldError]:
    problems = []
    if not USERNAME_LENGTH_MIN <= len(username) <= USERNAME_LENGTH_MAX:
        problems.append(FieldError("username", "must be 3 to 150 characters"))
    problems.extend(text_problems([("username", username), ("email", email)]))
    problems.extend(text_problems([("password", password)], TextKind.SECRET))
    try:
        validate_password(password, User(username=username, email=email))
    except ValidationError as error:
        problems.extend(FieldError("password", message) for message in error.messages)
    return problems


def create_staff(
    *,
    username: str,
    email: str,
    password: str,
    is_administrator: bool,
    actor: str,
    roles: tuple[str, ...] = (),
) -> User:
    """Create a member of bank staff who can sign in to the back office.

    Preconditions: ``username`` is 3-150 characters and unused (case-insensitively);
    ``password`` passes the password validators; ``roles`` name staff roles (an administrator
    always gets the administrator role). Effects: one user in those roles, one audit record
    (``security.staff_created``), one ``staff.created`` event. Errors: ``validation_error``
    with field messages, ``username_taken``.
    """
    username = username.strip()
    problems = _login_problems(username, email, password)
    unknown = [role for role in roles if role_named(role) is None]
    if unknown:
        problems.append(FieldError("roles", f"unknown roles: {', '.join(unknown)}"))
    if problems:
        raise InvalidInput("; ".join(f"{p.field} {p.message}" for p in problems), errors=problems)
    role_names = sorted({*roles, *(["administrator"] if is_administrator else [])})
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise UsernameTaken(f"The username {username!r} is already taken")
        # After this point the operation must succeed.
        user = User.objects.create_user(
            username=username,
            email=email,
            password=password,
            kind=UserKind.STAFF,
            is_staff=True,
            is_superuser=is_administrator,
        )
        user.groups.set(Group.objects.filter(name__in=role_names))
        state = {
            "username": username,
            "kind": user.kind,
            "administrator": is_administrator,
            "roles": role_names,
        }
        record_audit("security.staff_created", target=user.public_id, after=state, actor=actor)
        record_event("staff.created", aggregate_id=user.public_id, payload={"user": user.public_id})
    return user


# ------------------------------------------------------------------ sign-in


@dataclass(frozen=True, slots=True)
class RequestOrigin:
    """Where a sign-in came from, as the request said (recorded, never trusted for access)."""

    ip_address: str | None
    user_agent: str
    channel: str = "web"

    @classmethod
    def of(cls, request: HttpRequest, *, channel: str = "web") -> RequestOrigin:
        address = request.META.get("REMOTE_ADDR") or None
        agent = without_refused(request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_LENGTH_MAX])
        return cls(ip_address=address, user_agent=agent, channel=channel)


def _record_login_event(user: User | None, outcome: str, origin: RequestOrigin) -> LoginEvent:
    return LoginEvent.objects.create(
        user=user,
        outcome=outcome,
        occurred_at=timezone.now(),
        ip_address=origin.ip_address,
        user_agent=origin.user_agent,
        channel=origin.channel,
    )


def ensure_not_locked(request: HttpRequest, username: str) -> None:
    """Raise ``sign_in_locked`` when this username is locked out from this address."""
    if AxesProxyHandler.is_locked(request, {"username": username}):
        raise SignInLocked()


def record_failed_sign_in(request: HttpRequest, username: str, *, channel: str = "web") -> None:
    """Count a failed password or one-time code towards the lockout, and record it.

    The record names the user only when the username exists, and is never shown to the
    person signing in, so nothing here reveals whether a username exists.
    """
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)
    user = User.objects.filter(username__iexact=username).first()
    with transaction.atomic():
        _record_login_event(
            user, LoginEvent.Outcome.FAILED, RequestOrigin.of(request, channel=channel)
        )


def check_password(request: HttpRequest, username: str, password: str) -> User:
    """The active user with these credentials, or ``invalid_credentials`` / ``sign_in_locked``.

    A wrong password counts towards the lockout (django-axes, through ``authenticate``).
    """
    ensure_not_locked(request, username)
    user = authenticate(request, username=username, password=password)
    if getattr(request, "axes_locked_out", False):
        raise SignInLocked()
    if not isinstance(user, User):
        with transaction.atomic():
            known = User.objects.filter(username__iexact=username).first()
            _record_login_event(known, LoginEvent.Outcome.FAILED, RequestOrigin.of(request))
        raise InvalidCredentials()
    return user


def needs_second_factor(user: User) -> bool:
    return user.kind in settings.TOTP_REQUIRED_KINDS or user_has_device(user)


def check_one_time_code(request: HttpRequest, user: User, code: str) -> Device:
    """The user's device that accepts ``code`` (TOTP or an unused backup code).

    Errors: ``sign_in_locked``; ``invalid_credentials`` (counted towards the lockout).
    """
    ensure_not_locked(request, user.username)
    device: Device | None = (
        match_token(user, code.strip().replace(" ", "")) if code.strip() else None
    )
    if device is None:
        record_failed_sign_in(request, user.username)
        raise InvalidCredentials()
    return device


def complete_sign_in(request: HttpRequest, user: User, device: Device | None) -> UserSession:
    """Start the signed-in session after every factor passed.

    Effects: a new session key (fixation-safe), the verifying device remembered, one
    ``UserSession``, one ``LoginEvent``, audit ``security.signed_in`` and event
    ``security.signed_in`` (the login notification other apps send on).
    """
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if device is not None:
        otp_login(request, device)
    AxesProxyHandler.reset_attempts(username=user.username)
    now = timezone.now()
    origin = RequestOrigin.of(request)
    request.session[LAST_ACTIVITY_SESSION_KEY] = now.timestamp()
    with transaction.atomic():
        session = UserSession.objects.create(
            user=user,
            session_key=request.session.session_key or _saved_session_key(request),
            created_at=now,
            last_seen_at=now,
            ip_address=origin.ip_address,
            user_agent=origin.user_agent,
        )
        _record_login_event(user, LoginEvent.Outcome.SUCCEEDED, origin)
        record_audit(
            "security.signed_in",
            target=user.public_id,
            details={"session": session.public_id, "second_factor": device is not None},
            actor=f"user:{user.pk}",
        )
        record_event(
            "security.signed_in",
            aggregate_id=user.public_id,
            payload={"user": user.public_id, "channel": "web", "session": session.public_id},
        )
    return session


def _saved_session_key(request: HttpRequest) -> str:
    request.session.save()
    return request.session.session_key or ""


def sign_out(request: HttpRequest, *, outcome: str = LoginEvent.Outcome.SIGNED_OUT) -> None:
    """End this browser's session. Effects: the session row ended, a ``LoginEvent``, audit."""
    user = request.user
    if isinstance(user, User):
        with transaction.atomic():
            UserSession.objects.filter(
                user=user, session_key=request.session.session_key, ended_at__isnull=True
            ).update(ended_at=timezone.now())
            _record_login_event(user, outcome, RequestOrigin.of(request))
            record_audit(f"security.{outcome}", target=user.public_id, actor=f"user:{user.pk}")
    logout(request)


def sign_out_everywhere(user: User, *, actor: str) -> int:
    """End every session and revoke every API token of ``user``; return the sessions ended.

    Effects: session-store rows deleted, ``UserSession`` rows ended, tokens revoked, audit
    ``security.signed_out_everywhere``.
    """
    from bankmall.security.tokens import revoke_all_tokens  # noqa: PLC0415

    store = import_module(settings.SESSION_ENGINE).SessionStore
    with transaction.atomic():
        live = list(
            UserSession.objects.select_for_update().filter(user=user, ended_at__isnull=True)
        )
        for session in live:
            store(session_key=session.session_key).delete()
        UserSession.objects.filter(pk__in=[s.pk for s in live]).update(ended_at=timezone.now())
        record_audit(
            "security.signed_out_everywhere",
            target=user.public_id,
            details={"sessions": len(live)},
            actor=actor,
        )
    revoke_all_tokens(user, reason="signed_out_everywhere")
    return len(live)


# ------------------------------------------------------------------ two-factor devices

AUTHENTICATOR_NAME_LENGTH_MAX: Final = 64
DEFAULT_AUTHENTICATOR_NAME: Final = "authenticator"
BACKUP_CODE_BYTES: Final = 5  # 8 base32 characters, as django-otp's static tokens.


def _new_totp_key_hex() -> str:
    return secrets.token_hex(20)


def start_totp_enrolment(user: User) -> Authenticator:
    """The user's unconfirmed authenticator (created once), to show as a QR code at sign-in.

    Errors: ``conflict`` when the user already has a confirmed authenticator (adding another
    one is ``start_additional_authenticator``, behind a step-up).
    """
    if Authenticator.objects.filter(user=user, confirmed=True).exists():
        raise Conflict("Two-factor sign-in is already set up")
    return _pending_authenticator(user)


def _pending_authenticator(user: User) -> Authenticator:
    device: Authenticator | None = Authenticator.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = Authenticator.objects.create(
            user=user,
            name=DEFAULT_AUTHENTICATOR_NAME,
            key=_new_totp_key_hex(),
            confirmed=False,
        )
    return device


def confirm_totp_enrolment(user: User, code: str) -> tuple[Authenticator, list[str]]:
    """Confirm the pending authenticator with a first code; return it and new backup codes.

    Effects: the device confirmed, ``BACKUP_CODE_COUNT`` single-use backup codes (replacing
    any old ones), audit ``security.totp_enrolled``. Errors: ``invalid_otp`` (nothing changes),
    ``conflict`` (no enrolment in progress).
    """
    device = Authenticator.objects.filter(user=user, confirmed=False).first()
    if device is None:
        raise Conflict("No two-factor enrolment is in progress")
    if not device.verify_token(_compact(code)):
        raise InvalidOneTimeCode()
    # After this point the operation must succeed.
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _replace_backup_codes(user)
        record_audit("security.totp_enrolled", target=user.public_id, actor=f"user:{user.pk}")
    return device, codes


def _compact(code: str) -> str:
    return "".join(code.split())


def _replace_backup_codes(user: User) -> list[str]:
    # The set itself stays: a session that signed in with a backup code names it, and would
    # otherwise count as unverified once the set is gone.
    code_set: BackupCodeSet | None = BackupCodeSet.objects.filter(user=user).order_by("pk").first()
    if code_set is None:
        code_set = BackupCodeSet.objects.create(user=user, name="backup codes", confirmed=True)
    BackupCode.objects.filter(code_set__user=user).delete()
    BackupCodeSet.objects.filter(user=user).exclude(pk=code_set.pk).delete()
    codes = [
        base64.b32encode(secrets.token_bytes(BACKUP_CODE_BYTES)).decode("ascii").lower()
        for _ in range(BACKUP_CODE_COUNT)
    ]
    BackupCode.objects.bulk_create(
        BackupCode(code_set=code_set, code_hash=backup_code_hash(code)) for code in codes
    )
    return codes


def set_up_totp_directly(user: User, *, key_hex: str, actor: str) -> Authenticator:
    """Give ``user`` a confirmed authenticator with a known secret (demo seeding only)."""
    with transaction.atomic():
        Authenticator.objects.filter(user=user).delete()
        device: Authenticator = Authenticator.objects.create(
            user=user, name=DEFAULT_AUTHENTICATOR_NAME, key=key_hex, confirmed=True
        )
        record_audit("security.totp_enrolled", target=user.public_id, actor=actor)
    return device


def access_authenticator(user: User, device_id: str, *, confirmed: bool = True) -> Authenticator:
    """The user's own authenticator ``device_id``; another user's or a malformed id is
    ``not_found``."""
    if not is_valid_id("mfa", device_id):
        raise NotFound("No such authenticator")
    device: Authenticator | None = Authenticator.objects.filter(
        public_id=device_id, user=user, confirmed=confirmed
    ).first()
    if device is None:
        raise NotFound("No such authenticator")
    return device


def start_additional_authenticator(user: User) -> Authenticator:
    """The user's pending (unconfirmed) authenticator for the device page, created once.

    Signing in does not accept it until ``confirm_additional_authenticator`` confirms it.
    """
    return _pending_authenticator(user)


def _authenticator_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= AUTHENTICATOR_NAME_LENGTH_MAX:
        raise InvalidInput(
            "The name must be 1 to 64 characters",
            errors=[FieldError("name", "must be 1 to 64 characters")],
        )
    return name


def confirm_additional_authenticator(
    user: User, *, device_id: str, name: str, code: str, replaces: str | None, actor: str
) -> Authenticator:
    """Confirm a pending authenticator with its first code, optionally removing another.

    ``replaces`` names the user's confirmed authenticator that the new one replaces: it is
    deleted in the same transaction that confirms the new one, so the user always has at least
    one authenticator. Effects: audit ``security.authenticator_added`` (or
    ``security.authenticator_replaced``), event ``security.two_factor_changed``. Errors:
    ``not_found`` (either id is not the user's), ``validation_error`` (name), ``invalid_otp``
    (the code is wrong; nothing changes).
    """
    device = access_authenticator(user, device_id, confirmed=False)
    old = access_authenticator(user, replaces) if replaces else None
    clean_name = _authenticator_name(name)
    if not device.verify_token(_compact(code)):
        raise InvalidOneTimeCode()
    # After this point the operation must succeed.
    with transaction.atomic():
        device.confirmed = True
        device.name = clean_name
        device.save(update_fields=["confirmed", "name"])
        details = {"authenticator": device.public_id}
        if old is not None:
            details["replaced"] = old.public_id
            old.delete()
        action = "replaced" if old is not None else "added"
        record_audit(
            f"security.authenticator_{action}", target=user.public_id, details=details, actor=actor
        )
        record_event(
            "security.two_factor_changed",
            aggregate_id=user.public_id,
            payload={"user": user.public_id, "change": f"authenticator_{action}"},
        )
    return device


def remove_authenticator(user: User, *, device_id: str, actor: str) -> Authenticator:
    """Remove one of the user's authenticators.

    Errors: ``not_found``; ``last_authenticator`` when it is the user's only authenticator
    (replace it instead). Effects: the device deleted, audit ``security.authenticator_removed``,
    event ``security.two_factor_changed``. Returns an authenticator the user still has.
    """
    with transaction.atomic():
        device = access_authenticator(user, device_id)
        remaining: Authenticator | None = (
            Authenticator.objects.select_for_update()
            .filter(user=user, confirmed=True)
            .exclude(pk=device.pk)
            .order_by("pk")
            .first()
        )
        if remaining is None:
            raise LastAuthenticator()
        # After this point the operation must succeed.
        device.delete()
        record_audit(
            "security.authenticator_removed",
            target=user.public_id,
            details={"authenticator": device_id},
            actor=actor,
        )
        record_event(
            "security.two_factor_changed",
            aggregate_id=user.public_id,
            payload={"user": user.public_id, "change": "authenticator_removed"},
        )
    return remaining


def regenerate_backup_codes(user: User, *, actor: str) -> list[str]:
    """Replace the user's backup codes with ``BACKUP_CODE_COUNT`` new ones, returned once.

    Effects: every old code stops working; audit ``security.backup_codes_regenerated``, event
    ``security.two_factor_changed``. Errors: ``conflict`` when the user has no authenticator
    (backup codes back up an authenticator, they do not replace it).
    """
    if not Authenticator.objects.filter(user=user, confirmed=True).exists():
        raise Conflict("Set up an authenticator first")
    with transaction.atomic():
        codes = _replace_backup_codes(user)
        record_audit(
            "security.backup_codes_regenerated",
            target=user.public_id,
            details={"count": len(codes)},
            actor=actor,
        )
        record_event(
            "security.two_factor_changed",
            aggregate_id=user.public_id,
            payload={"user": user.public_id, "change": "backup_codes_regenerated"},
        )
    return codes


# ------------------------------------------------------------------ passwords and roles


def reset_password(user: User, *, password: str, actor: str) -> None:
    """Set a new password (after a reset link or a change) and sign out everywhere.

    Preconditions: ``password`` passed the validators (the form checks them). Effects: the
    password hash, audit ``security.password_reset``, every session and token ended.
    """
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        record_audit("security.password_reset", target=user.public_id, actor=actor)
    sign_out_everywhere(user, actor=actor)


def grant_role(*, user_id: str, role: str, actor: str) -> User:
    """Add the staff member ``user_id`` to ``role`` (runs after a maker-checker approval).

    Errors: ``not_found`` (no such staff member), ``unknown_role``.
    """
    if role_named(role) is None:
        raise UnknownRole(f"No staff role {role!r}")
    with transaction.atomic():
        user = (
            User.objects.select_for_update().filter(public_id=user_id, kind=UserKind.STAFF).first()
        )
        if user is None:
            raise NotFound("No such staff member")
        group = Group.objects.get(name=role)
        before = sorted(user.groups.values_list("name", flat=True))
        # After this point the operation must succeed.
        user.groups.add(group)
        after = sorted({*before, role})
        record_audit(
            "security.role_granted",
            target=user.public_id,
            before={"roles": before},
            after={"roles": after},
            details={"role": role},
            actor=actor,
        )
        record_event("staff.role_granted", aggregate_id=user.public_id, payload={"role": role})
    return user


def note_audit_export(*, after: str, actor: str) -> None:
    """Record that someone exported the audit log (who, and after which cursor)."""
    with transaction.atomic():
        record_audit("security.audit_exported", details={"after": after}, actor=actor)


# ------------------------------------------------------------------ partner applications


@dataclass(frozen=True, slots=True)
class NewPartnerApplication:
    application: PartnerApplication
    client_secret: str  # Shown once; only its hash is stored.


def register_partner_application(
    *, name: str, redirect_uris: list[str], scopes: list[str], actor: str
) -> NewPartnerApplication:
    """Register a partner's OAuth2 client with the scopes it may ask for.

    Errors: ``validation_error`` (empty name, unknown scope, a redirect URI that is not
    https, except http://localhost for development, a control character in the name or a
    redirect URI). Effects: one application with an
    Argon2-hashed secret, audit ``security.partner_registered``.
    """
    problems = []
    name = name.strip()
    if not 1 <= len(name) <= PARTNER_NAME_LENGTH_MAX:
        problems.append(FieldError("name", "must be 1 to 120 characters"))
    unknown = unknown_scopes(scopes)
    if unknown or not scopes:
        problems.append(FieldError("scopes", f"unknown or missing scopes: {', '.join(unknown)}"))
    for uri in redirect_uris:
        if not uri.startswith(("https://", "http://localhost")):
            problems.append(FieldError("redirect_uris", f"{uri!r} must use https"))
    texts = [("name", name), *(("redirect_uris", uri) for uri in redirect_uris)]
    problems.extend(text_problems(texts))
    if problems:
        raise InvalidInput("; ".join(f"{p.field} {p.message}" for p in problems), errors=problems)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        application = PartnerApplication.objects.create(
            name=name,
            client_id="cli_" + secrets.token_hex(12),
            client_secret_hash=make_password(secret),
            redirect_uris=redirect_uris,
            scopes=sorted(set(scopes)),
            created_at=timezone.now(),
        )
        record_audit(
            "security.partner_registered",
            target=application.public_id,
            details={"scopes": application.scopes},
            actor=actor,
        )
    return NewPartnerApplication(application=application, client_secret=secret)


def create_principal(*, username: str, email: str, password: str, kind: str, actor: str) -> User:
    """Create a customer or merchant user who signs in to the net bank or the merchant portal.

    Errors as ``create_staff`` (``validation_error``, ``username_taken``); a kind other than
    customer or merchant is a ``validation_error``. Effects: one user, audit
    ``security.user_created``, event ``user.created``.
    """
    username = username.strip()
    problems = _login_problems(username, email, password)
    if kind not in {UserKind.CUSTOMER, UserKind.MERCHANT}:
        problems.append(FieldError("kind", "must be customer or merchant"))
    if problems:
        raise InvalidInput("; ".join(f"{p.field} {p.message}" for p in problems), errors=problems)
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise UsernameTaken(f"The username {username!r} is already taken")
        # After this point the operation must succeed.
        user = User.objects.create_user(
            username=username, email=email, password=password, kind=kind
        )
        record_audit(
            "security.user_created",
            target=user.public_id,
            after={"username": username, "kind": kind},
            actor=actor,
        )
        record_event("user.created", aggregate_id=user.public_id, payload={"kind": kind})
    return user
