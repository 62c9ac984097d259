"""Core banking's maker-checker actions (registered in ``BankingConfig.ready``).

- ``banking.teller_cash``: cash in or out at the counter; needs a second member of staff from
  ``TELLER_APPROVAL_THRESHOLD_MINOR`` (default 5,000,000 = 50,000.00) up; below it the teller
  books it directly.
- ``banking.set_account_status``: freezing or unfreezing an account, always approved.
- ``banking.set_account_limit``: changing an account's channel limits, always approved.
"""

from __future__ import annotations

from typing import Any, Final

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from bankmall.banking import actions
from bankmall.banking.models import Channel, DepositAccount, DepositAccountStatus
from bankmall.core.errors import FieldError, InvalidInput
from bankmall.core.money import Money
from bankmall.security.approvals import ApprovalAction, register_approval_action

TELLER_APPROVAL_THRESHOLD_MINOR: Final = 5_000_000
PROPOSE: Final = "security.teller_operations"
DECIDE: Final = "security.decide_approvals"


def _account(parameters: dict[str, Any]) -> DepositAccount:
    account = DepositAccount.objects.filter(public_id=str(parameters.get("account_id"))).first()
    if account is None:
        raise InvalidInput(errors=[FieldError("account_id", "No such account.")])
    return account


def _int(parameters: dict[str, Any], name: str) -> int:
    value = parameters.get(name)
    if type(value) is not int:
        raise InvalidInput(errors=[FieldError(name, "An integer of minor units.")])
    return value


def _validate_cash(parameters: dict[str, Any]) -> None:
    """At proposal time: the amount, the account's status and, for a withdrawal, the money
    available now (checked again when the request is approved)."""
    account = _account(parameters)
    amount_minor = _int(parameters, "amount_minor")
    if not isinstance(parameters.get("is_deposit"), bool):
        raise InvalidInput(errors=[FieldError("is_deposit", "true or false.")])
    if not str(parameters.get("reference", "")).strip():
        message = gettext("The slip number is required.")
        raise InvalidInput(message, errors=[FieldError("reference", message)])
    actions.cash_problems(
        account,
        Money(amount_minor, account.currency),
        is_deposit=bool(parameters["is_deposit"]),
    )


def _run_cash(parameters: dict[str, Any], actor: str) -> dict[str, Any]:
    account = _account(parameters)
    entry_id = actions.teller_cash(
        account=account,
        amount=Money(_int(parameters, "amount_minor"), account.currency),
        is_deposit=bool(parameters["is_deposit"]),
        reference=str(parameters["reference"]),
        actor=actor,
    )
    return {"entry_id": entry_id, "reference": str(parameters["reference"])}


def _validate_status(parameters: dict[str, Any]) -> None:
    _account(parameters)
    if parameters.get("status") not in {DepositAccountStatus.ACTIVE, DepositAccountStatus.FROZEN}:
        raise InvalidInput(errors=[FieldError("status", "active or frozen.")])


def _run_status(parameters: dict[str, Any], actor: str) -> dict[str, Any]:
    account = actions.set_account_status(
        account=_account(parameters),
        status=DepositAccountStatus(parameters["status"]),
        reason=str(parameters.get("reason", "")),
        actor=actor,
    )
    return {"account_id": account.public_id, "status": account.status}


def _validate_limit(parameters: dict[str, Any]) -> None:
    _account(parameters)
    if parameters.get("channel") not in Channel.values:
        raise InvalidInput(errors=[FieldError("channel", "Unknown channel.")])
    per, daily = _int(parameters, "per_transaction_minor"), _int(parameters, "daily_minor")
    if per < 0 or daily < 0 or per > daily:
        raise InvalidInput(errors=[FieldError("daily_minor", "0 <= per transaction <= daily.")])


def _run_limit(parameters: dict[str, Any], actor: str) -> dict[str, Any]:
    limit = actions.set_account_limit(
        account=_account(parameters),
        channel=Channel(parameters["channel"]),
        per_transaction_minor=_int(parameters, "per_transaction_minor"),
        daily_minor=_int(parameters, "daily_minor"),
        actor=actor,
    )
    return {"channel": limit.channel, "daily_minor": limit.daily_minor}


TELLER_CASH = ApprovalAction(
    name="banking.teller_cash",
    label=_("Cash deposit or withdrawal at the counter"),
    propose_permission=PROPOSE,
    decide_permission=DECIDE,
    run=_run_cash,
    validate=_validate_cash,
    amount_parameter="amount_minor",
    threshold_minor=TELLER_APPROVAL_THRESHOLD_MINOR,
)
SET_ACCOUNT_STATUS = ApprovalAction(
    name="banking.set_account_status",
    label=_("Freeze or unfreeze an account"),
    propose_permission=PROPOSE,
    decide_permission=DECIDE,
    run=_run_status,
    validate=_validate_status,
)
SET_ACCOUNT_LIMIT = ApprovalAction(
    name="banking.set_account_limit",
    label=_("Change an account's transfer limits"),
    propose_permission=PROPOSE,
    decide_permission=DECIDE,
    run=_run_limit,
    validate=_validate_limit,
)


def register() -> None:
    for action in (TELLER_CASH, SET_ACCOUNT_STATUS, SET_ACCOUNT_LIMIT):
        register_approval_action(action)
