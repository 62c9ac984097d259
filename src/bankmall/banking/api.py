"""The customer banking API: accounts, transactions, transfers, statements (API.md); cards,
payees and standing orders.

Every id is looked up through ``queries.access_*``, so another customer's id answers 404.
Creating calls accept an ``Idempotency-Key`` (``_idempotent``): the same key and body replay
the first response; another body with the key is a 409 ``idempotency_key_reused``.
Changing card limits and adding a payee need a fresh one-time code (401 ``step_up_required``,
confirm at ``/api/v1/auth/step-up`` and repeat), as in the net bank.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, Final

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Header, Query, Router, Schema, Status

from bankmall.banking import actions, queries, standing, statements
from bankmall.banking.bank import bank_identity
from bankmall.banking.models import (
    ApiIdempotencyRecord,
    Card,
    Channel,
    Customer,
    DepositAccount,
    Frequency,
    Payee,
    StandingOrder,
    Transfer,
)
from bankmall.banking.schemas import (
    AccountPage,
    AccountSchema,
    CardLimitsRequestSchema,
    CardPage,
    CardSchema,
    IdempotencyHeaders,
    OptionalIdempotencyHeaders,
    PayeePage,
    PayeeRequestSchema,
    PayeeSchema,
    StandingOrderPage,
    StandingOrderRequestSchema,
    StandingOrderSchema,
    StatementParams,
    TransactionPage,
    TransactionSchema,
    TransferRequestSchema,
    TransferSchema,
)
from bankmall.core.audit import record_audit
from bankmall.core.errors import FieldError, IdempotencyKeyReused, InvalidInput, NotFound
from bankmall.core.money import Money
from bankmall.core.pagination import (
    PageParams,
    page_by_public_id,
    page_schema,
    paginate_sequence,
)
from bankmall.core.schemas import MoneySchema, ProblemSchema
from bankmall.security.access import acting_user, api_auth, principal_operation
from bankmall.security.stepup import require_step_up

router = Router(tags=["banking"])
READ_ERRORS = {401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema, 422: ProblemSchema}
STEP_UP_PURPOSE = "banking.transfer"
CARD_LIMITS_STEP_UP: Final = "banking.card_limits"
PAYEE_STEP_UP: Final = "banking.add_payee"
WRITE_ERRORS = {409: ProblemSchema, **READ_ERRORS}


def caller_customer(request: HttpRequest) -> Customer:
    """The bank customer the signed-in user is; a user without one owns nothing (404)."""
    customer = Customer.objects.filter(user=acting_user(request)).first()
    if customer is None:
        raise NotFound("You have no accounts at this bank.")
    return customer


def _account_schema(account: DepositAccount) -> AccountSchema:
    balance = queries.account_balance(account)
    return AccountSchema(
        id=account.public_id,
        number=account.number,
        product=account.product,
        currency=account.currency,
        status=account.status,
        balance=MoneySchema.of(balance.balance),
        available=MoneySchema.of(balance.available),
    )


def transfer_schema(transfer: Transfer) -> TransferSchema:
    return TransferSchema(
        id=transfer.public_id,
        status=transfer.status,
        kind=transfer.kind,
        from_account=transfer.from_account.public_id,
        to_account_number=transfer.to_account_number,
        amount=MoneySchema(amount=transfer.amount_minor, currency=transfer.currency),
        reference=transfer.reference,
        created_at=transfer.created_at,
        business_date=transfer.business_date,
    )


@router.get("/accounts", auth=api_auth, response={200: AccountPage, **READ_ERRORS})
@principal_operation("customer")
def list_accounts(request: HttpRequest, page: Query[PageParams]) -> AccountPage:
    """The caller's accounts with booked and available balances."""
    accounts = queries.customer_accounts(caller_customer(request))
    found = paginate_sequence(
        accounts, key=lambda a: a.public_id, limit=page.limit, starting_after=page.starting_after
    )
    return page_schema(AccountPage, found, _account_schema)


@router.get("/accounts/{account_id}", auth=api_auth, response={200: AccountSchema, **READ_ERRORS})
@principal_operation("customer")
def get_account(request: HttpRequest, account_id: str) -> AccountSchema:
    """One of the caller's accounts; another customer's id answers 404."""
    return _account_schema(queries.access_account(caller_customer(request), account_id))


def _transaction_schema(entry: queries.AccountEntry) -> TransactionSchema:
    return TransactionSchema(
        id=entry.id,
        created_at=entry.created_at,
        value_date=entry.value_date,
        amount=MoneySchema.of(entry.amount),
        direction="credit" if entry.is_credit else "debit",
        status=entry.status,
        description=entry.description,
        counterparty_account=entry.counterparty_account,
    )


@router.get(
    "/accounts/{account_id}/transactions",
    auth=api_auth,
    response={200: TransactionPage, **READ_ERRORS},
)
@principal_operation("customer")
def list_transactions(
    request: HttpRequest, account_id: str, page: Query[PageParams]
) -> TransactionPage:
    """The account's history, oldest first, cursor-paginated."""
    account = queries.access_account(caller_customer(request), account_id)
    found = queries.account_entries(account, limit=page.limit, starting_after=page.starting_after)
    return page_schema(TransactionPage, found, _transaction_schema)


@router.post(
    "/transfers",
    auth=api_auth,
    response={201: TransferSchema, 400: ProblemSchema, 409: ProblemSchema, **READ_ERRORS},
)
@principal_operation("customer")
def create_transfer(
    request: HttpRequest,
    body: TransferRequestSchema,
    headers: Header[IdempotencyHeaders],
) -> Status[TransferSchema]:
    """Send money; ``Idempotency-Key`` is required. Above the step-up amount the first call
    answers 401 ``step_up_required`` with a ``challenge_id``: confirm it at
    ``/api/v1/auth/step-up`` and repeat the request with the same key."""
    customer = caller_customer(request)
    amount = body.amount.to_money()
    if amount.amount_minor >= settings.BANKING_STEP_UP_AMOUNT_MINOR:
        require_step_up(request, STEP_UP_PURPOSE)
    transfer = actions.transfer(
        customer=customer,
        order=actions.TransferOrder(
            from_account_id=body.from_account,
            to_account_number=body.to_account_number,
            amount=amount,
            reference=body.reference,
            to_name=body.to_name,
            to_bank_code=body.to_bank_code,
        ),
        idempotency_key=headers.idempotency_key,
        channel=Channel.API,
        actor=acting_user(request).public_id,
    )
    return Status(201, transfer_schema(transfer))


@router.get(
    "/transfers/{transfer_id}", auth=api_auth, response={200: TransferSchema, **READ_ERRORS}
)
@principal_operation("customer")
def get_transfer(request: HttpRequest, transfer_id: str) -> TransferSchema:
    """One of the caller's transfers; another customer's id answers 404."""
    return transfer_schema(queries.access_transfer(caller_customer(request), transfer_id))


@router.get(
    "/accounts/{account_id}/statement",
    auth=api_auth,
    response={200: None, **READ_ERRORS},
    openapi_extra={
        "responses": {
            200: {
                "description": "The statement file.",
                "content": {
                    "application/xml": {"schema": {"type": "string"}},
                    "text/csv": {"schema": {"type": "string"}},
                    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                },
            }
        }
    },
)
@principal_operation("customer")
def get_statement(
    request: HttpRequest,
    account_id: str,
    params: Query[StatementParams],
) -> HttpResponse:
    """The statement for ``from``..``to`` (business dates) as camt.053 XML, CSV or PDF."""
    customer = caller_customer(request)
    account = queries.access_account(customer, account_id)
    statement = queries.statement_for(
        account, start=params.period_start, end=params.period_end, owner_name=customer.legal_name
    )
    return statement_response(statement, params.statement_format, language=request.LANGUAGE_CODE)


def statement_response(
    statement: statements.Statement, statement_format: str, *, language: str
) -> HttpResponse:
    """The rendered statement as a download (shared by the API and the net bank)."""
    body = statements.render(statement, statement_format, bank=bank_identity(), language=language)
    response = HttpResponse(body, content_type=statements.CONTENT_TYPES[statement_format])
    filename = statement.filename(statement_format)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# ---------------------------------------------------------------- idempotency


def _idempotent(
    customer: Customer,
    key: str | None,
    *,
    operation: str,
    body: dict[str, Any],
    make: Callable[[], tuple[int, Schema]],
    actor: str,
) -> Status[Any]:
    """Run ``make`` once per (customer, key): a repeat with the same operation and body gets
    the first status and body back; another operation or body is ``idempotency_key_reused``.
    Without a key ``make`` simply runs. A failure stores nothing (the key stays unused)."""
    if key is None:
        status, result = make()
        return Status(status, result)
    canonical = json.dumps({"operation": operation, "body": body}, sort_keys=True, default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    with transaction.atomic():
        Customer.objects.select_for_update().filter(pk=customer.pk).first()
        found = ApiIdempotencyRecord.objects.filter(customer=customer, key=key).first()
        if found is not None:
            if found.request_digest != digest:
                raise IdempotencyKeyReused("This Idempotency-Key was used for another request.")
            return Status(found.status_code, found.response)
        status, result = make()
        ApiIdempotencyRecord.objects.create(
            customer=customer,
            key=key,
            operation=operation,
            request_digest=digest,
            status_code=status,
            response=json.loads(result.model_dump_json()),
            created_at=timezone.now(),
        )
        record_audit(
            "banking.api_idempotency_key_used",
            target=customer.public_id,
            details={"operation": operation},
            actor=actor,
        )
    return Status(status, result)


# ---------------------------------------------------------------- cards


def card_schema(card: Card) -> CardSchema:
    currency = card.account.currency
    return CardSchema(
        id=card.public_id,
        account=card.account.public_id,
        last_four=card.last_four,
        expiry_month=card.expiry_month,
        expiry_year=card.expiry_year,
        status=card.status,
        per_transaction_limit=MoneySchema.of(Money(card.per_transaction_limit_minor, currency)),
        daily_limit=MoneySchema.of(Money(card.daily_limit_minor, currency)),
    )


@router.get("/cards", auth=api_auth, response={200: CardPage, **READ_ERRORS})
@principal_operation("customer")
def list_cards(request: HttpRequest, page: Query[PageParams]) -> CardPage:
    """The caller's debit cards (last four digits only), by id."""
    cards = Card.objects.select_related("account").filter(
        account__customer=caller_customer(request)
    )
    return page_schema(CardPage, page_by_public_id(cards, page), card_schema)


def _card(request: HttpRequest, card_id: str) -> Card:
    card = queries.access_card(caller_customer(request), card_id)
    return Card.objects.select_related("account").get(pk=card.pk)


@router.get("/cards/{card_id}", auth=api_auth, response={200: CardSchema, **READ_ERRORS})
@principal_operation("customer")
def get_card(request: HttpRequest, card_id: str) -> CardSchema:
    """One of the caller's cards; another customer's id answers 404."""
    return card_schema(_card(request, card_id))


@router.post("/cards/{card_id}/freeze", auth=api_auth, response={200: CardSchema, **WRITE_ERRORS})
@principal_operation("customer")
def freeze_card(request: HttpRequest, card_id: str) -> CardSchema:
    """Freeze the card (409 ``conflict`` when it is already frozen or blocked by the bank)."""
    card = actions.set_card_frozen(
        card=_card(request, card_id), frozen=True, actor=acting_user(request).public_id
    )
    return card_schema(card)


@router.post("/cards/{card_id}/unfreeze", auth=api_auth, response={200: CardSchema, **WRITE_ERRORS})
@principal_operation("customer")
def unfreeze_card(request: HttpRequest, card_id: str) -> CardSchema:
    """Unfreeze the card (409 ``conflict`` when it is not frozen or blocked by the bank)."""
    card = actions.set_card_frozen(
        card=_card(request, card_id), frozen=False, actor=acting_user(request).public_id
    )
    return card_schema(card)


@router.post("/cards/{card_id}/limits", auth=api_auth, response={200: CardSchema, **WRITE_ERRORS})
@principal_operation("customer")
def set_card_limits(
    request: HttpRequest, card_id: str, body: CardLimitsRequestSchema
) -> CardSchema:
    """Change the card's per-purchase and daily limits. Needs a one-time code: the first call
    answers 401 ``step_up_required``; confirm the challenge and repeat."""
    card = _card(request, card_id)
    currency = card.account.currency
    per, daily = body.per_transaction_limit.to_money(), body.daily_limit.to_money()
    problems = [
        FieldError(name, f"The card's account holds {currency}.")
        for name, money in (("per_transaction_limit", per), ("daily_limit", daily))
        if money.currency != currency
    ]
    if problems:
        raise InvalidInput(problems[0].message, errors=problems)
    require_step_up(request, CARD_LIMITS_STEP_UP)
    changed = actions.set_card_limits(
        card=card,
        per_transaction_minor=per.amount_minor,
        daily_minor=daily.amount_minor,
        actor=acting_user(request).public_id,
    )
    return card_schema(changed)


# ---------------------------------------------------------------- payees


def payee_schema(payee: Payee) -> PayeeSchema:
    return PayeeSchema(
        id=payee.public_id,
        name=payee.name,
        account_number=payee.account_number,
        bank_code=payee.bank_code,
        created_at=payee.created_at,
    )


@router.get("/payees", auth=api_auth, response={200: PayeePage, **READ_ERRORS})
@principal_operation("customer")
def list_payees(request: HttpRequest, page: Query[PageParams]) -> PayeePage:
    """The caller's saved payees, by id."""
    payees = Payee.objects.filter(customer=caller_customer(request))
    return page_schema(PayeePage, page_by_public_id(payees, page), payee_schema)


@router.post("/payees", auth=api_auth, response={201: PayeeSchema, **WRITE_ERRORS})
@principal_operation("customer")
def create_payee(
    request: HttpRequest, body: PayeeRequestSchema, headers: Header[OptionalIdempotencyHeaders]
) -> Status[PayeeSchema]:
    """Save a payee. Needs a one-time code (401 ``step_up_required`` first). For an account of
    this bank the name must be the holder's: ``payee_name_close_match`` (the holder's name
    masked in ``account_name``) or ``payee_name_mismatch``."""
    customer = caller_customer(request)
    actor = acting_user(request).public_id
    require_step_up(request, PAYEE_STEP_UP)

    def make() -> tuple[int, Schema]:
        payee = actions.add_payee(
            customer=customer,
            name=body.name,
            account_number=body.account_number,
            bank_code=body.bank_code,
            actor=actor,
        )
        return 201, payee_schema(payee)

    return _idempotent(
        customer,
        headers.idempotency_key,
        operation="create_payee",
        body=body.model_dump(),
        make=make,
        actor=actor,
    )


@router.delete("/payees/{payee_id}", auth=api_auth, response={204: None, **READ_ERRORS})
@principal_operation("customer")
def delete_payee(request: HttpRequest, payee_id: str) -> Status[None]:
    """Delete a saved payee (past transfers keep their own copy of the details)."""
    payee = queries.access_payee(caller_customer(request), payee_id)
    actions.remove_payee(payee=payee, actor=acting_user(request).public_id)
    return Status(204, None)


# ---------------------------------------------------------------- standing orders


def standing_order_schema(order: StandingOrder) -> StandingOrderSchema:
    return StandingOrderSchema(
        id=order.public_id,
        from_account=order.from_account.public_id,
        to_account_number=order.to_account_number,
        to_name=order.to_name,
        to_bank_code=order.to_bank_code,
        amount=MoneySchema.of(order.amount),
        reference=order.reference,
        frequency=order.frequency,
        next_date=order.next_date,
        anchor_day=order.anchor_day,
        is_active=order.is_active,
        last_error=order.last_error,
        created_at=order.created_at,
    )


@router.get("/standing-orders", auth=api_auth, response={200: StandingOrderPage, **READ_ERRORS})
@principal_operation("customer")
def list_standing_orders(request: HttpRequest, page: Query[PageParams]) -> StandingOrderPage:
    """The caller's scheduled and standing orders (active and ended), by id."""
    orders = StandingOrder.objects.select_related("from_account").filter(
        customer=caller_customer(request)
    )
    return page_schema(StandingOrderPage, page_by_public_id(orders, page), standing_order_schema)


@router.post("/standing-orders", auth=api_auth, response={201: StandingOrderSchema, **WRITE_ERRORS})
@principal_operation("customer")
def create_standing_order(
    request: HttpRequest,
    body: StandingOrderRequestSchema,
    headers: Header[IdempotencyHeaders],
) -> Status[StandingOrderSchema]:
    """Schedule a transfer (``Idempotency-Key`` required: it will move money). Checked now:
    the first date (today to 365 days ahead), the payee (and its holder's name), the amount
    against the account's per-transaction limit; end of day checks again when it runs."""
    customer = caller_customer(request)
    actor = acting_user(request).public_id

    def make() -> tuple[int, Schema]:
        order = standing.create_standing_order(
            customer=customer,
            order=actions.TransferOrder(
                from_account_id=body.from_account,
                to_account_number=body.to_account_number,
                amount=body.amount.to_money(),
                reference=body.reference,
                to_name=body.to_name,
                to_bank_code=body.to_bank_code,
            ),
            frequency=Frequency(body.frequency),
            first_date=body.first_date,
            actor=actor,
        )
        return 201, standing_order_schema(
            StandingOrder.objects.select_related("from_account").get(pk=order.pk)
        )

    return _idempotent(
        customer,
        headers.idempotency_key,
        operation="create_standing_order",
        body=body.model_dump(),
        make=make,
        actor=actor,
    )


@router.post(
    "/standing-orders/{order_id}/cancel",
    auth=api_auth,
    response={200: StandingOrderSchema, **WRITE_ERRORS},
)
@principal_operation("customer")
def cancel_standing_order(request: HttpRequest, order_id: str) -> StandingOrderSchema:
    """Cancel an order (409 ``conflict`` when it already ended)."""
    order = queries.access_standing_order(caller_customer(request), order_id)
    cancelled = standing.cancel_standing_order(standing=order, actor=acting_user(request).public_id)
    return standing_order_schema(cancelled)
