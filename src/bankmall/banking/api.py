"""The customer banking API: accounts, transactions, transfers, statements (API.md)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Header, Query, Router, Status

from bankmall.banking import actions, queries, statements
from bankmall.banking.bank import bank_identity
from bankmall.banking.models import Channel, Customer, DepositAccount, Transfer
from bankmall.banking.schemas import (
    AccountPage,
    AccountSchema,
    IdempotencyHeaders,
    StatementParams,
    TransactionPage,
    TransactionSchema,
    TransferRequestSchema,
    TransferSchema,
)
from bankmall.core.errors import NotFound
from bankmall.core.pagination import PageParams, paginate_sequence
from bankmall.core.schemas import MoneySchema, ProblemSchema
from bankmall.security.access import acting_user, api_auth, principal_operation
from bankmall.security.stepup import require_step_up

router = Router(tags=["banking"])
READ_ERRORS = {401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema, 422: ProblemSchema}
STEP_UP_PURPOSE = "banking.transfer"


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
    return AccountPage(
        data=[_account_schema(account) for account in found.data],
        has_more=found.has_more,
        next_cursor=found.next_cursor,
    )


@router.get("/accounts/{account_id}", auth=api_auth, response={200: AccountSchema, **READ_ERRORS})
@principal_operation("customer")
def get_account(request: HttpRequest, account_id: str) -> AccountSchema:
    """One of the caller's accounts; another customer's id answers 404."""
    return _account_schema(queries.access_account(caller_customer(request), account_id))


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
    return TransactionPage(
        data=[
            TransactionSchema(
                id=entry.id,
                created_at=entry.created_at,
                value_date=entry.value_date,
                amount=MoneySchema.of(entry.amount),
                direction="credit" if entry.is_credit else "debit",
                status=entry.status,
                description=entry.description,
                counterparty_account=entry.counterparty_account,
            )
            for entry in found.data
        ],
        has_more=found.has_more,
        next_cursor=found.next_cursor,
    )


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
