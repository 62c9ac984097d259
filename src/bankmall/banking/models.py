"""Core banking tables: customers, deposit accounts with limits, and transfers.

Money lives in the ledger: a deposit account is a ledger account (``ledger_account_id``) and its
balance is the ledger's. These tables hold what the ledger does not know: who owns an account,
its number, product, status, limits, and the customer's transfer orders.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from bankmall.core.fields import public_id_field
from bankmall.core.money import Money
from bankmall.security.crypto import BlindIndexField, EncryptedTextField, normalise_digits
from bankmall.security.masking import mask_national_id, mask_text

NUMBER_LENGTH = 20
LEDGER_ID_LENGTH = 40


class CustomerKind(models.TextChoices):
    INDIVIDUAL = "individual", _("Individual")
    COMPANY = "company", _("Company")


class KycStatus(models.TextChoices):
    PENDING = "pending", _("Pending review")
    VERIFIED = "verified", _("Verified")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")


class RiskRating(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class Customer(models.Model):
    """A customer of the bank: a person or a company.

    Constraints: ``public_id`` (``cus_…``) is the only id shown outside; a customer has at most
    one sign-in user, and a user belongs to at most one customer.
    """

    public_id = public_id_field("cus")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="banking_customer",
    )
    kind = models.CharField(max_length=16, choices=CustomerKind.choices)
    kyc_status = models.CharField(
        max_length=16, choices=KycStatus.choices, default=KycStatus.PENDING
    )
    risk_rating = models.CharField(
        max_length=8, choices=RiskRating.choices, default=RiskRating.MEDIUM
    )
    branch = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField()
    # Personal data: encrypted at rest (AES-256-GCM), searchable only by exact blind index.
    legal_name = EncryptedTextField(default="")
    legal_name_index = BlindIndexField(source="legal_name")
    national_id = EncryptedTextField(default="")
    national_id_index = BlindIndexField(source="national_id", normaliser=normalise_digits)
    date_of_birth = EncryptedTextField(blank=True, default="")
    phone = EncryptedTextField(blank=True, default="")
    address = EncryptedTextField(blank=True, default="")
    occupation = EncryptedTextField(blank=True, default="")
    kyc_reviewed_at = models.DateTimeField(null=True, blank=True)
    # Who decided the last KYC review (the acting user's public id) and why it was rejected.
    kyc_reviewed_by = models.CharField(max_length=64, blank=True, default="")
    kyc_review_note = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return self.public_id

    @property
    def masked_name(self) -> str:
        return mask_text(self.legal_name)

    @property
    def masked_national_id(self) -> str:
        return mask_national_id(self.national_id)


class AccountProduct(models.TextChoices):
    CURRENT = "current", _("Current account")
    SAVINGS = "savings", _("Savings account")


class DepositAccountStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    FROZEN = "frozen", _("Frozen")
    DORMANT = "dormant", _("Dormant")
    CLOSED = "closed", _("Closed")


class DepositAccount(models.Model):
    """A customer's deposit account, backed by one ledger liability account.

    Guarantees: ``number`` is 20 digits with valid MOD 97-10 check digits and never changes;
    ``currency`` equals the ledger account's; the ledger account refuses debits beyond its
    credits plus ``overdraft_limit_minor`` (the ledger holds the same limit).
    Constraints: ``interest_rate_percent`` is a yearly rate (``Decimal``, four places).
    """

    public_id = public_id_field("acc")
    number = models.CharField(max_length=NUMBER_LENGTH, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="accounts")
    ledger_account_id = models.CharField(max_length=LEDGER_ID_LENGTH, unique=True)
    product = models.CharField(max_length=16, choices=AccountProduct.choices)
    currency = models.CharField(max_length=3, default="CNY")
    status = models.CharField(
        max_length=16, choices=DepositAccountStatus.choices, default=DepositAccountStatus.ACTIVE
    )
    overdraft_limit_minor = models.BigIntegerField(default=0)
    interest_rate_percent = models.DecimalField(max_digits=7, decimal_places=4, default=0)
    opened_at = models.DateTimeField()
    last_activity_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["customer", "public_id"])]

    def __str__(self) -> str:
        return self.public_id


class Channel(models.TextChoices):
    NET_BANK = "net_bank", _("Net bank")
    API = "api", _("API")
    TELLER = "teller", _("Branch teller")
    CARD = "card", _("Card")
    # Not a channel money moves through: the row holding the account's daily total across
    # every channel (transfers and card payments).
    ALL = "all", _("All channels (daily total)")


class AccountLimit(models.Model):
    """The most an account may send through one channel: per transaction and per day."""

    account = models.ForeignKey(DepositAccount, on_delete=models.CASCADE, related_name="limits")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    per_transaction_minor = models.BigIntegerField()
    daily_minor = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "channel"], name="one_limit_per_channel"),
            models.CheckConstraint(
                condition=models.Q(per_transaction_minor__gte=0, daily_minor__gte=0),
                name="limits_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}:{self.channel}"


class NumberSequence(models.Model):
    """The next serial for a numbering scheme (``account:0001``); advanced under a row lock."""

    name = models.CharField(max_length=32, unique=True)
    next_value = models.BigIntegerField(default=1)

    def __str__(self) -> str:
        return self.name


class TransferKind(models.TextChoices):
    OWN = "own", _("Between own accounts")
    INTERNAL = "internal", _("To another customer")
    INTERBANK = "interbank", _("To another bank")


class TransferStatus(models.TextChoices):
    COMPLETED = "completed", _("Completed")
    AWAITING_CLEARING = "awaiting_clearing", _("Awaiting clearing")
    SENT = "sent", _("Sent to clearing")


class Transfer(models.Model):
    """A customer's order to move money out of one of their accounts.

    Guarantees: a row exists only for an order whose ledger transfer was written in the same
    transaction (``ledger_transfer_id``); ``(customer, idempotency_key)`` is unique, so a retry
    never moves money twice. Internal transfers are ``completed`` at once; interbank ones are
    ``awaiting_clearing`` (money on the clearing account) until a pain.001 batch takes them.
    """

    public_id = public_id_field("trf")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="transfers")
    from_account = models.ForeignKey(
        DepositAccount, on_delete=models.PROTECT, related_name="outgoing_transfers"
    )
    to_account = models.ForeignKey(
        DepositAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="incoming_transfers",
    )
    to_account_number = models.CharField(max_length=34)
    # The payee's name is personal data: encrypted at rest (migration 0009 encrypted old rows).
    to_name = EncryptedTextField(blank=True, default="")
    to_bank_code = models.CharField(max_length=12, blank=True, default="")
    kind = models.CharField(max_length=16, choices=TransferKind.choices)
    status = models.CharField(max_length=20, choices=TransferStatus.choices)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=140, blank=True, default="")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    idempotency_key = models.CharField(max_length=128)
    request_digest = models.CharField(max_length=64)
    ledger_transfer_id = models.CharField(max_length=LEDGER_ID_LENGTH)
    clearing_batch = models.CharField(max_length=40, blank=True, default="")
    business_date = models.DateField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "idempotency_key"], name="transfer_idempotency_key"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="transfer_amount_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["from_account", "business_date"]),
            models.Index(fields=["status", "kind"]),
        ]

    def __str__(self) -> str:
        return self.public_id


class InterestAccrual(models.Model):
    """One day's interest on one account, accrued by end of day and posted at month end.

    Guarantees: at most one row per account and business date (end of day accrues each date
    once); ``accrued_minor`` is the exact Decimal amount in minor units (six places,
    half-even); ``posted_transfer_id`` is set on every row of a month once that month's rounded
    sum is credited.
    """

    account = models.ForeignKey(DepositAccount, on_delete=models.PROTECT, related_name="accruals")
    business_date = models.DateField()
    balance_minor = models.BigIntegerField()
    rate_percent = models.DecimalField(max_digits=7, decimal_places=4)
    accrued_minor = models.DecimalField(max_digits=24, decimal_places=6)
    posted_transfer_id = models.CharField(max_length=LEDGER_ID_LENGTH, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "business_date"], name="one_accrual_per_account_and_date"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id}:{self.business_date}"


class MonthlyStatement(models.Model):
    """A month's statement produced by end of day: its period and the totals it showed.

    The files are rendered on demand from the ledger (``queries.statement_for``); this row
    records that the statement was issued and what its balances were.
    """

    public_id = public_id_field("stm")
    account = models.ForeignKey(DepositAccount, on_delete=models.PROTECT, related_name="statements")
    period_start = models.DateField()
    period_end = models.DateField()
    opening_balance_minor = models.BigIntegerField()
    closing_balance_minor = models.BigIntegerField()
    entry_count = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "period_start"], name="one_statement_per_account_and_month"
            )
        ]

    def __str__(self) -> str:
        return self.public_id


class ClearingBatch(models.Model):
    """One outgoing ``pain.001.001.09`` file: the interbank transfers sent together.

    Guarantees: every transfer it names moved from ``awaiting_clearing`` to ``sent`` in the
    transaction that stored the file; ``document`` validates against the official XSD.
    """

    public_id = public_id_field("pbt")
    business_date = models.DateField()
    transfer_count = models.PositiveIntegerField()
    control_sum = models.CharField(max_length=40)
    document = models.BinaryField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.public_id


class CardStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    FROZEN = "frozen", _("Frozen by you")
    BLOCKED = "blocked", _("Blocked by the bank")


class Card(models.Model):
    """A debit card linked to a deposit account.

    Guarantees: the card number exists only in the security vault (``vault_token``); this
    table keeps the token and the last four digits. The CVV is never generated into or stored
    by the bank's systems. Limits are in the account's minor units.
    """

    public_id = public_id_field("dbc")
    account = models.ForeignKey(DepositAccount, on_delete=models.PROTECT, related_name="cards")
    vault_token = models.CharField(max_length=40, unique=True)
    last_four = models.CharField(max_length=4)
    expiry_month = models.PositiveSmallIntegerField()
    expiry_year = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=CardStatus.choices, default=CardStatus.ACTIVE)
    per_transaction_limit_minor = models.BigIntegerField(default=2_000_000)
    daily_limit_minor = models.BigIntegerField(default=5_000_000)
    issued_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.public_id


class Payee(models.Model):
    """Someone the customer pays regularly: a name and an account here or at another bank.

    The name is personal data and is stored encrypted.
    """

    public_id = public_id_field("pye")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="payees")
    name = EncryptedTextField()
    account_number = models.CharField(max_length=34)
    bank_code = models.CharField(max_length=12, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "account_number"], name="one_payee_per_account_number"
            )
        ]

    def __str__(self) -> str:
        return self.public_id


class Frequency(models.TextChoices):
    ONCE = "once", _("Once (scheduled)")
    WEEKLY = "weekly", _("Weekly")
    MONTHLY = "monthly", _("Monthly")


class StandingOrder(models.Model):
    """A transfer the customer scheduled: once on ``next_date``, or weekly/monthly from it.

    End of day makes the transfer due on each business date (idempotency key
    ``standing:<id>:<date>``), then moves ``next_date`` on; a failed run (insufficient funds,
    limits) is recorded in ``last_error`` and retried on the next due date only.
    """

    public_id = public_id_field("sto")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="standing")
    from_account = models.ForeignKey(DepositAccount, on_delete=models.CASCADE)
    to_account_number = models.CharField(max_length=34)
    to_name = EncryptedTextField(blank=True, default="")
    to_bank_code = models.CharField(max_length=12, blank=True, default="")
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=140, blank=True, default="")
    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    next_date = models.DateField(null=True, blank=True)
    # The first date's day of the month: every monthly date is computed from it (clamped to
    # the month's end), never from the previous date, so the 31st comes back after February.
    anchor_day = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    last_error = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["is_active", "next_date"])]

    def __str__(self) -> str:
        return self.public_id

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


class CardAuthorisationStatus(models.TextChoices):
    AUTHORISED = "authorised", _("Authorised")
    CAPTURED = "captured", _("Captured")
    VOIDED = "voided", _("Voided")


class CardAuthorisation(models.Model):
    """A card payment approved by the bank: a pending ledger hold on the card's account.

    Guarantees: a row exists only with its ledger hold (``ledger_hold_id``, key
    ``card:<id>:hold``) written in the same transaction; ``captured`` posts at most the
    authorised amount (``captured_minor``, key ``card:<id>:capture``), ``voided`` releases it
    (``card:<id>:void``); ``(card, idempotency_key)`` is unique, so a retried authorisation
    holds money once. Customers see ``public_id`` (``cau_…``) for every posting of it.
    """

    public_id = public_id_field("cau")
    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="authorisations")
    account = models.ForeignKey(
        DepositAccount, on_delete=models.PROTECT, related_name="card_authorisations"
    )
    amount_minor = models.BigIntegerField()
    captured_minor = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    merchant = models.CharField(max_length=140)
    status = models.CharField(
        max_length=12,
        choices=CardAuthorisationStatus.choices,
        default=CardAuthorisationStatus.AUTHORISED,
    )
    idempotency_key = models.CharField(max_length=128)
    request_digest = models.CharField(max_length=64)
    ledger_hold_id = models.CharField(max_length=LEDGER_ID_LENGTH)
    business_date = models.DateField()
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["card", "idempotency_key"], name="card_authorisation_idempotency_key"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_minor__gt=0), name="card_authorisation_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["account", "business_date"]),
            models.Index(fields=["card", "business_date"]),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


# The creating API calls that keep their first answer per Idempotency-Key: operation →
# (HTTP method, path under /api/v1/), as shown in the customer's data-subject export.
API_IDEMPOTENT_OPERATIONS: dict[str, tuple[str, str]] = {
    "create_payee": ("POST", "/api/v1/payees"),
    "create_standing_order": ("POST", "/api/v1/standing-orders"),
}


class ApiIdempotencyRecord(models.Model):
    """The first response to a customer's API call that carried an ``Idempotency-Key``.

    Guarantees: one row per (customer, key); the same key with the same operation and body
    replays ``status_code`` and ``response``; with anything else it is refused
    (``idempotency_key_reused``). Rows are kept ``API_IDEMPOTENCY_RETENTION_DAYS`` (API.md asks
    for at least 24 hours), then ``actions.purge_api_idempotency_records`` deletes them.
    Transfers keep their own key on ``Transfer``; this table serves the other creating calls.
    ``operation`` names the call (a key of ``API_IDEMPOTENT_OPERATIONS``; empty on rows stored
    before it was recorded).
    """

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="api_idempotency_records"
    )
    key = models.CharField(max_length=128)
    operation = models.CharField(max_length=64, blank=True, default="")
    request_digest = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "key"], name="one_api_response_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.key}"
