"""The ledger's problem codes. Every one of them means that nothing was written.

A failure inside ``create_transfers`` names the offending transfer in ``extra``:
``transfer_index`` (its position in the batch) and ``key`` (its idempotency key).
"""

from __future__ import annotations

from bankmall.core.errors import BankmallError, Conflict, NotFound


class LedgerError(BankmallError):
    """The ledger refused the request."""

    code = "ledger_error"
    status = 422
    title = "The ledger refused the request"


class AmountMustBePositive(LedgerError):
    """A transfer amount is zero, negative or missing where one is required."""

    code = "amount_must_be_positive"
    title = "The amount must be a positive number of minor units"


class AmountTooLarge(LedgerError):
    """A transfer amount is above ``AMOUNT_MAX_MINOR`` (10^15 minor units).

    The cap keeps every running total far inside a 64-bit integer: no input can overflow it.
    """

    code = "amount_too_large"
    title = "The amount is larger than the ledger accepts"


class AccountsMustBeDifferent(LedgerError):
    """A transfer names the same account as debit and credit."""

    code = "accounts_must_be_different"
    title = "The debit and credit accounts must differ"


class AccountNotFound(NotFound):
    """A transfer or request names a ledger account (by id or code) that does not exist."""

    code = "account_not_found"
    title = "No such ledger account"


class AccountFrozen(Conflict):
    """A new transfer would debit or credit a frozen account; releasing its holds still works."""

    code = "account_frozen"
    title = "The account is frozen"


class AccountClosed(Conflict):
    """A new transfer or a status change would touch a closed account."""

    code = "account_closed"
    title = "The account is closed"


class AccountBalanceNotZero(Conflict):
    """An account with a posted balance or pending amounts cannot be closed."""

    code = "account_balance_not_zero"
    title = "Only an account with a zero balance and nothing pending can be closed"


class AccountCodeConflict(Conflict):
    """An account with this chart-of-accounts code exists with other attributes."""

    code = "account_code_conflict"
    title = "An account with this code exists with different attributes"


class InsufficientFunds(Conflict):
    """Debits posted plus pending would exceed credits posted plus the overdraft limit."""

    code = "insufficient_funds"
    title = "The debit would exceed the account's credits and overdraft limit"


class CreditLimitExceeded(Conflict):
    """Credits posted plus pending would exceed debits posted plus the limit."""

    code = "credit_limit_exceeded"
    title = "The credit would exceed the account's debits and limit"


class TransferNotFound(NotFound):
    """A reversal or lookup names a transfer that does not exist."""

    code = "transfer_not_found"
    title = "No such transfer"


class PendingTransferNotFound(NotFound):
    """A post or void names a transfer that does not exist."""

    code = "pending_transfer_not_found"
    title = "No such pending transfer"


class TransferNotPending(LedgerError):
    """A post or void names a transfer that is not a pending transfer."""

    code = "transfer_not_pending"
    title = "Only a pending transfer can be posted or voided"


class PendingTransferAlreadyPosted(Conflict):
    """The pending transfer was posted already, so it cannot be posted or voided again."""

    code = "pending_transfer_already_posted"
    title = "The pending transfer was already posted"


class PendingTransferAlreadyVoided(Conflict):
    """The pending transfer was voided already, so it cannot be posted or voided again."""

    code = "pending_transfer_already_voided"
    title = "The pending transfer was already voided"


class PendingTransferExpired(Conflict):
    """The pending transfer's timeout has passed; its reservation is or will be released."""

    code = "pending_transfer_expired"
    title = "The pending transfer has expired"


class PendingAmountExceeded(LedgerError):
    """A post asks for more than the pending transfer reserved."""

    code = "pending_amount_exceeded"
    title = "The amount to post exceeds the pending amount"


class TransferNotReversible(LedgerError):
    """Only posted transfers that are not reversals themselves can be reversed."""

    code = "transfer_not_reversible"
    title = "Only a posted transfer that is not itself a reversal can be reversed"


class ReversalExceedsOriginal(Conflict):
    """The reversals of a transfer would add up to more than its amount."""

    code = "reversal_exceeds_original"
    title = "The reversals would exceed the original amount"


class DuplicateKeyInBatch(LedgerError):
    """Two transfers in one batch share an idempotency key."""

    code = "duplicate_key_in_batch"
    title = "Two transfers in one batch share an idempotency key"


class BatchSizeInvalid(LedgerError):
    """A batch holds no transfers or more than 8,190."""

    code = "batch_size_invalid"
    title = "A batch holds between 1 and 8,190 transfers"
