"""Identities. One user table for every kind of principal, told apart by ``kind``."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils.translation import gettext_lazy as _

from bankmall.core.fields import public_id_field
from bankmall.security.crypto import BlindIndexField, EncryptedTextField, normalise_digits


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
