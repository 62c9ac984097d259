"""The ledger's public value types: what callers pass in and what they get back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from bankmall.core.money import Money

BATCH_MAX: Final = 8_190
KEY_MAX_LENGTH: Final = 128
CLIENT_MAX_LENGTH: Final = 64
TEXT_MAX_LENGTH: Final = 128
TIMEOUT_SECONDS_MAX: Final = 366 * 24 * 3600


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """One account to create. ``code`` is the account's unique chart-of-accounts path.

    ``credit_shards`` (0 to 64, not with ``credits_must_not_exceed_debits``) designates a hot
    account: its posted credits are spread over that many shard rows, so concurrent credits
    do not queue on the account's row (docs/ledger.md, "Hot accounts").
    """

    code: str
    currency: str
    kind: str
    debits_must_not_exceed_credits: bool = False
    credits_must_not_exceed_debits: bool = False
    overdraft_limit_minor: int = 0
    name: str = ""
    credit_shards: int = 0


class _Factory:
    """The default of a field that gets a new value per instance (shown as dataclasses shows
    a ``default_factory``)."""

    def __repr__(self) -> str:
        return "<factory>"


_NEW_DICT: Final[Any] = _Factory()


@dataclass(frozen=True, slots=True, init=False)
class TransferRequest:
    """One transfer of a batch.

    Exactly one shape applies:
    - a posted transfer: ``debit_account``, ``credit_account``, ``amount``;
    - a pending transfer: the same plus ``pending=True`` and optionally ``timeout_seconds``;
    - posting a pending transfer: ``post_pending`` (its id) and optionally a smaller ``amount``;
    - voiding a pending transfer: ``void_pending`` (its id);
    - a reversal: ``reverses`` (the id of a posted transfer) and optionally a smaller ``amount``.
    Accounts are public ids (``lac_…``) or account codes; for posting, voiding and reversing
    they may be left empty and are taken from the referenced transfer.
    """

    key: str
    debit_account: str = ""
    credit_account: str = ""
    amount: Money | None = None
    pending: bool = False
    timeout_seconds: int = 0
    post_pending: str = ""
    void_pending: str = ""
    reverses: str = ""
    code: str = ""
    reference: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    value_date: dt.date | None = None

    def __init__(  # noqa: PLR0917 (the fields, as the dataclass would take them)
        self,
        key: str,
        debit_account: str = "",
        credit_account: str = "",
        amount: Money | None = None,
        pending: bool = False,
        timeout_seconds: int = 0,
        post_pending: str = "",
        void_pending: str = "",
        reverses: str = "",
        code: str = "",
        reference: str = "",
        metadata: Mapping[str, Any] = _NEW_DICT,
        value_date: dt.date | None = None,
    ) -> None:
        """The dataclass's ``__init__``, cheaper: a frozen dataclass sets each field through
        ``object.__setattr__`` (13 slow calls, ~20k instructions: as much as validating and
        preparing the transfer). Here the object is a ``_TransferRequestFields`` — the same
        slots, writable — while its fields are stored, and a ``TransferRequest`` again after."""
        cls = type(self)
        thawed: Any = self
        _set_attribute(thawed, "__class__", _TransferRequestFields)
        thawed.key = key
        thawed.debit_account = debit_account
        thawed.credit_account = credit_account
        thawed.amount = amount
        thawed.pending = pending
        thawed.timeout_seconds = timeout_seconds
        thawed.post_pending = post_pending
        thawed.void_pending = void_pending
        thawed.reverses = reverses
        thawed.code = code
        thawed.reference = reference
        thawed.metadata = {} if metadata is _NEW_DICT else metadata
        thawed.value_date = value_date
        thawed.__class__ = cls


_set_attribute: Final = object.__setattr__
#: ``TransferRequest``'s twin: the same slots (so an object may change between the two
#: classes), but writable.
_TransferRequestFields: Final = type(
    "_TransferRequestFields", (), {"__slots__": TransferRequest.__slots__}
)


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account and its four running totals at the moment it was read (``credits_posted``
    includes the credits kept in the account's shards)."""

    id: str
    code: str
    currency: str
    kind: str
    status: str
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    overdraft_limit_minor: int
    debits_posted: Money
    credits_posted: Money
    debits_pending: Money
    credits_pending: Money
    name: str
    created_at: dt.datetime
    credit_shards: int = 0


@dataclass(frozen=True, slots=True)
class TransferView:
    """A transfer as written. ``status`` is ``posted``, ``pending``, ``voided`` or ``expired``
    (the latter three only for pending transfers; a ``void`` or ``expire`` row itself is
    ``voided`` or ``expired``)."""

    id: str
    key: str
    client: str
    kind: str
    status: str
    debit_account: str
    credit_account: str
    amount: Money
    code: str
    reference: str
    metadata: dict[str, Any]
    value_date: dt.date
    pending_id: str | None
    reverses_id: str | None
    expires_at: dt.datetime | None
    created_at: dt.datetime


class _TransferViewUnderConstruction(TransferView):
    """``TransferView``'s layout without its frozen ``__setattr__``: ``transfer_view`` fills
    the slots by plain attribute stores, then makes the object a ``TransferView``."""

    __slots__ = ()
    __setattr__ = object.__setattr__
    __delattr__ = object.__delattr__


def transfer_view(  # noqa: PLR0917 (one argument per field, in field order)
    id: str,  # noqa: A002 (the field's name)
    key: str,
    client: str,
    kind: str,
    status: str,
    debit_account: str,
    credit_account: str,
    amount: Money,
    code: str,
    reference: str,
    metadata: dict[str, Any],
    value_date: dt.date,
    pending_id: str | None,
    reverses_id: str | None,
    expires_at: dt.datetime | None,
    created_at: dt.datetime,
) -> TransferView:
    """``TransferView(...)`` with its fields by position: the same object (type, fields,
    equality, immutability), ~7 times cheaper to build. A frozen dataclass's ``__init__``
    sets each field through ``object.__setattr__`` (~2k instructions each, ~30k a view, one
    view per transfer written); the subclass above takes plain slot stores, and assigning
    ``__class__`` between the two (same slots, no ``__dict__``) is allowed by Python."""
    view: Any = _new_object(_TransferViewUnderConstruction)
    view.id = id
    view.key = key
    view.client = client
    view.kind = kind
    view.status = status
    view.debit_account = debit_account
    view.credit_account = credit_account
    view.amount = amount
    view.code = code
    view.reference = reference
    view.metadata = metadata
    view.value_date = value_date
    view.pending_id = pending_id
    view.reverses_id = reverses_id
    view.expires_at = expires_at
    view.created_at = created_at
    view.__class__ = TransferView
    return view  # type: ignore[no-any-return]


_new_object: Final = object.__new__


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's balances at ``as_of``, in the account's own sense.

    ``posted`` and ``available`` follow the account's normal side: credits minus debits for
    liability, equity and income accounts; debits minus credits for asset and expense accounts.
    ``available`` also subtracts outgoing pending amounts (never adds incoming ones).
    """

    account_id: str
    as_of: dt.datetime | None
    debits_posted: Money
    credits_posted: Money
    debits_pending: Money
    credits_pending: Money
    posted: Money
    available: Money
