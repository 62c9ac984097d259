"""Identities. One user table for every kind of principal, told apart by ``kind``."""

from __future__ import annotations

import time
from base64 import b32encode
from typing import Any, ClassVar, Final
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.oath import TOTP

from bankmall.core.fields import public_id_field
from bankmall.security.crypto import (
    BlindIndexField,
    EncryptedTextField,
    blind_index,
    normalise_digits,
)

BACKUP_CODE_CONTEXT: Final = "security.backupcode.code"


class UserKind(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    MERCHANT = "merchant", _("Merchant user")
    STAFF = "staff", _("Bank staff")


class BankmallUserManager(UserManager["User"]):
    def create_superuser(
        self,
        username: str,
        email: str | None = None,
        password: str | None = None,
        **extra_fields: Any,
    ) -> User:
        extra_fields.setdefault("kind", UserKind.STAFF)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A person who signs in: a customer, a merchant's user or a member of bank staff.

    Constraints: ``public_id`` (``usr_…``) is the only id shown outside the process;
    ``is_staff`` is true exactly for ``kind == staff``.
    """

    public_id = public_id_field("usr")
    kind = models.CharField(max_length=16, choices=UserKind.choices, default=UserKind.CUSTOMER)
    # Set when the person's data was erased (anonymised); the row stays for ledger and audit.
    erased_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[BankmallUserManager] = BankmallUserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        swappable = "AUTH_USER_MODEL"
        # Staff permissions that no model's add/change/delete expresses; roles (groups) hold
        # them, and staff_view checks them (default deny). Later apps add their own.
        permissions = [
            ("access_backoffice", "Can open the back office"),
            ("view_audit_log", "Can view the audit log"),
            ("export_audit_log", "Can export the audit log"),
            ("view_personal_data", "Can view personal data unmasked"),
            ("manage_staff", "Can propose staff role changes"),
            ("decide_approvals", "Can approve or reject maker-checker requests"),
            ("view_security_events", "Can view sign-in and session records"),
            ("teller_operations", "Can serve customers at the counter"),
            ("review_kyc", "Can review customer identity checks"),
            ("analyse_risk", "Can review risk alerts"),
            ("settle_payments", "Can run and reconcile settlement"),
            ("arbitrate_disputes", "Can decide disputes"),
            ("manage_marketing", "Can manage promotions and campaigns"),
            # Merchant users' roles (owner / operator / finance) hold these.
            ("merchant_manage_users", "Can manage the merchant's users"),
            ("merchant_operate", "Can manage the merchant's products and orders"),
            ("merchant_view_finance", "Can view the merchant's settlements and payouts"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind=UserKind.STAFF, is_staff=True)
                    | (~models.Q(kind=UserKind.STAFF) & models.Q(is_staff=False))
                ),
                name="user_is_staff_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.username


class LoginEvent(models.Model):
    """One sign-in, failed sign-in or sign-out, kept for the user's security page and audit.

    ``ip_address`` and ``user_agent`` are what the request said; a failure for an unknown
    username is recorded without a user, so the page never hints whether a username exists.
    """

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", _("Signed in")
        FAILED = "failed", _("Failed sign-in")
        LOCKED = "locked", _("Locked out")
        SIGNED_OUT = "signed_out", _("Signed out")
        TIMED_OUT = "timed_out", _("Timed out")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    occurred_at = models.DateTimeField(db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True, default="")
    channel = models.CharField(max_length=16, default="web")

    class Meta:
        indexes = [models.Index(fields=["user", "-occurred_at"], name="login_event_user_idx")]

    def __str__(self) -> str:
        return f"{self.outcome} at {self.occurred_at:%Y-%m-%d %H:%M}"


class UserSession(models.Model):
    """A signed-in browser session, listed on the sessions page and ended by "sign out
    everywhere". ``session_key`` is the session store's key; ``ended_at`` is set on sign-out,
    timeout or remote sign-out."""

    public_id = public_id_field("ses")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    session_key = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True, default="")

    def __str__(self) -> str:
        return self.public_id


class ApiToken(models.Model):
    """A pair of bearer tokens issued by ``/api/v1/auth/token``.

    Only SHA-256 hashes of the tokens are stored. Guarantees: an access token works until
    ``access_expires_at`` unless revoked; a refresh token works once (refreshing revokes this
    pair and issues a new one) until ``refresh_expires_at``.
    """

    public_id = public_id_field("tok")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    access_hash = models.CharField(max_length=64, unique=True)
    refresh_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    access_expires_at = models.DateTimeField()
    refresh_expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    # True when a one-time code was checked when the pair (or its first ancestor) was issued.
    is_verified = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.public_id


class StepUpChallenge(models.Model):
    """A request to re-enter a one-time code before a protected action.

    ``credential`` names the session or token that asked (a hash, never the secret), so a
    confirmation made on one device does not unlock another. Confirmed challenges allow their
    ``purpose`` until ``confirmed_at + STEP_UP_MINUTES``.
    """

    public_id = public_id_field("stp")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    credential = models.CharField(max_length=80)
    purpose = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "credential", "purpose"], name="step_up_lookup_idx"),
        ]

    def __str__(self) -> str:
        return self.public_id


class VaultedCard(models.Model):
    """A card number in the vault. Only ``token`` and ``last_four`` ever leave the vault.

    Constraints: ``number`` is encrypted at rest; ``number_index`` (blind index) is unique, so
    a card number is stored once and always maps to the same token.
    """

    token = public_id_field("card")
    number = EncryptedTextField()
    number_index = BlindIndexField(source="number", normaliser=normalise_digits, unique=True)
    last_four = models.CharField(max_length=4)
    expiry_month = models.PositiveSmallIntegerField()
    expiry_year = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.token} (…{self.last_four})"


class ApprovalRequest(models.Model):
    """A proposed sensitive action waiting for a second member of staff (maker-checker).

    Guarantees: the maker never decides their own request; a request is decided once
    (``pending`` → ``approved`` | ``rejected``); an approved request's action ran exactly once,
    in the same transaction that marked it approved, and ``result`` holds what it returned.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved and carried out")
        REJECTED = "rejected", _("Rejected")

    public_id = public_id_field("apr")
    action_type = models.CharField(max_length=64)
    parameters = models.JSONField(default=dict)
    reason = models.TextField()
    maker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approvals_made"
    )
    created_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    checker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="approvals_decided",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")
    result = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["status", "-created_at"], name="approval_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(checker=models.F("maker")),
                name="approval_checker_is_not_maker",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.action_type} ({self.status})"


class Consent(models.Model):
    """A recorded consent (marketing, data sharing with a named partner) and its withdrawal.

    A withdrawal sets ``withdrawn_at``; granting again creates a new row, so the history of
    what the person agreed to, and when, is kept.
    """

    class Purpose(models.TextChoices):
        MARKETING = "marketing", _("Marketing messages")
        DATA_SHARING = "data_sharing", _("Sharing data with a partner")

    public_id = public_id_field("cns")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    partner = models.CharField(max_length=120, blank=True, default="")
    granted_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "purpose"], name="consent_user_idx")]

    def __str__(self) -> str:
        return f"{self.purpose} {self.partner}".strip()


class PartnerApplication(models.Model):
    """An OAuth2 client of a partner (payment company, fintech). Its flows (client credentials,
    authorization code with PKCE) come with the partner issue; the model and scopes live here.

    Constraints: ``client_secret_hash`` is an Argon2 hash (never the secret); every scope is one
    of ``scopes.SCOPES``.
    """

    public_id = public_id_field("app")
    name = models.CharField(max_length=120)
    client_id = models.CharField(max_length=64, unique=True)
    client_secret_hash = models.CharField(max_length=256)
    redirect_uris = models.JSONField(default=list)
    scopes = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name


# ------------------------------------------------------------------ second factors
# django-otp is untyped: its mixins' methods are called through their classes below, so mypy
# sees calls into the library (allowed by ``untyped_calls_exclude``) rather than untyped self
# calls.


def _is_throttled(device: Any) -> bool:
    is_allowed, _details = ThrottlingMixin.verify_is_allowed(device)
    return not is_allowed


def _note_attempt(device: Any, *, is_verified: bool) -> bool:
    """Reset the throttle and note the use after a good code; count a failure otherwise."""
    if is_verified:
        ThrottlingMixin.throttle_reset(device, commit=False)
        TimestampMixin.set_last_used_timestamp(device, commit=False)
        device.save()
    else:
        ThrottlingMixin.throttle_increment(device, commit=True)
    return is_verified


class Authenticator(TimestampMixin, ThrottlingMixin, Device):
    """An authenticator app (TOTP, RFC 6238): a django-otp device whose secret is encrypted.

    django-otp's own ``TOTPDevice`` keeps the secret in clear; this device keeps the same
    algorithm and parameters but stores ``key`` (hex) in an ``EncryptedTextField``, so a
    database copy holds no usable secret and ``bankmall keys rotate`` re-encrypts it.
    Guarantees: a code is accepted once (``last_t``), failures throttle the device
    (``ThrottlingMixin``). ``confirmed`` is false while an enrolment waits for its first code.
    """

    public_id = public_id_field("mfa")
    key = EncryptedTextField()
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    last_t = models.BigIntegerField(default=-1)

    class Meta:
        verbose_name = _("authenticator")

    @property
    def bin_key(self) -> bytes:
        return bytes.fromhex(self.key)

    def get_throttle_factor(self) -> int:
        return int(getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1))

    def verify_token(self, token: object) -> bool:
        """Whether ``token`` is the code for now (within ``tolerance`` steps), used once."""
        if _is_throttled(self):
            return False
        try:
            number = int(str(token))
        except ValueError:
            number = -1
        totp = TOTP(self.bin_key, self.step, self.t0, self.digits, self.drift)
        totp.time = time.time()
        is_verified = number >= 0 and bool(totp.verify(number, self.tolerance, self.last_t + 1))
        if is_verified:
            self.last_t = totp.t()
            self.drift = totp.drift
        return _note_attempt(self, is_verified=is_verified)

    @property
    def config_url(self) -> str:
        """The ``otpauth://`` URL an authenticator app reads from the QR code."""
        issuer = str(getattr(settings, "OTP_TOTP_ISSUER", "bankmall")).replace(":", "")
        label = f"{issuer}:{self.user.get_username()}"
        params = {
            "secret": b32encode(self.bin_key).decode("ascii"),
            "algorithm": "SHA1",
            "digits": self.digits,
            "period": self.step,
        }
        return f"otpauth://totp/{quote(label)}?{urlencode(params)}&issuer={quote(issuer)}"


class BackupCodeSet(TimestampMixin, ThrottlingMixin, Device):
    """A user's single-use backup codes (a django-otp device). Only keyed hashes are stored.

    A code is shown once when it is made; ``verify_token`` hashes what the user typed with the
    blind-index key (kept outside the database) and deletes the matching code, so each works
    once and a database copy reveals none of them.
    """

    class Meta:
        verbose_name = _("backup codes")

    def get_throttle_factor(self) -> int:
        return int(getattr(settings, "OTP_STATIC_THROTTLE_FACTOR", 1))

    def verify_token(self, token: object) -> bool:
        if _is_throttled(self):
            return False
        deleted, _rows = BackupCode.objects.filter(
            code_set=self, code_hash=backup_code_hash(str(token))
        ).delete()
        return _note_attempt(self, is_verified=deleted > 0)


def backup_code_hash(code: str) -> str:
    """The stored form of a backup code: a keyed hash of it, trimmed and lower-cased."""
    normalised = "".join(code.split()).replace("-", "").casefold()
    return blind_index(normalised, context=BACKUP_CODE_CONTEXT)


class BackupCode(models.Model):
    """One unused backup code, as ``backup_code_hash`` of it (never the code)."""

    code_set = models.ForeignKey(BackupCodeSet, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64)

    class Meta:
        indexes = [models.Index(fields=["code_set", "code_hash"], name="backup_code_lookup_idx")]

    def __str__(self) -> str:
        return f"backup code of {self.code_set_id}"
