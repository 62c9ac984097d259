"""The ledger's problem codes. Every one of them means that nothing was written.

A failure inside ``create_transfers`` names the offending transfer in ``extra``:
``transfer_index`` (its position in the batch) and ``key`` (its idempotency key).
"""

from __future__ import annotations

from bankmall.core.errors import BankmallError, Conflict, NotFound


class LedgerError(BankmallError):
    code = "ledger_error"
    status = 422
    title = "The ledger refused the request"


class AmountMustBePositive(LedgerError):
    code = "amount_must_be_positive"
    title = "The amount must be a positive number of minor units"


class AccountsMustBeDifferent(LedgerError):
    code = "accounts_must_be_different"
    title = "The debit and credit accounts must differ"


class AccountNotFound(NotFound):
    code = "account_not_found"
    title = "No such ledger account"


class AccountFrozen(Conflict):
    code = "account_frozen"
    title = "The account is frozen"


class AccountClosed(Conflict):
    code = "account_closed"
    title = "The account is closed"


class AccountBalanceNotZero(Conflict):
    code = "account_balance_not_zero"
    title = "Only an account with a zero balance and nothing pending can be closed"


class AccountCodeConflict(Conflict):
    code = "account_code_conflict"
    title = "An account with this code exists with different attributes"


class InsufficientFunds(Conflict):
    code = "insufficient_funds"
    title = "The debit would exceed the account's credits and overdraft limit"


class CreditLimitExceeded(Conflict):
    code = "credit_limit_exceeded"
    title = "The credit would exceed the account's debits and limit"


class TransferNotFound(NotFound):
    code = "transfer_not_found"
    title = "No such transfer"


class PendingTransferNotFound(NotFound):
    code = "pending_transfer_not_found"
    title = "No such pending transfer"


class TransferNotPending(LedgerError):
    code = "transfer_not_pending"
    title = "Only a pending transfer can be posted or voided"


class PendingTransferAlreadyPosted(Conflict):
    code = "pending_transfer_already_posted"
    title = "The pending transfer was already posted"


class PendingTransferAlreadyVoided(Conflict):
    code = "pending_transfer_already_voided"
    title = "The pending transfer was already voided"


class PendingTransferExpired(Conflict):
    code = "pending_transfer_expired"
    title = "The pending transfer has expired"


class PendingAmountExceeded(LedgerError):
    code = "pending_amount_exceeded"
    title = "The amount to post exceeds the pending amount"


class TransferNotReversible(LedgerError):
    code = "transfer_not_reversible"
    title = "Only a posted transfer that is not itself a reversal can be reversed"


class ReversalExceedsOriginal(Conflict):
    code = "reversal_exceeds_original"
    title = "The reversals would exceed the original amount"


class DuplicateKeyInBatch(LedgerError):
    code = "duplicate_key_in_batch"
    title = "Two transfers in one batch share an idempotency key"


class BatchSizeInvalid(LedgerError):
    code = "batch_size_invalid"
    title = "A batch holds between 1 and 8,190 transfers"
