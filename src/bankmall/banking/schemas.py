"""HTTP schemas of the customer banking API (API.md core paths)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from bankmall.core.schemas import MoneySchema
from bankmall.core.text import SingleLineText


class AccountSchema(Schema):
    id: str = Field(description="Opaque account id (acc_…).")
    number: str = Field(description="20-digit account number with MOD 97-10 check digits.")
    product: str = Field(description="current or savings.")
    currency: str
    status: str = Field(description="active, frozen, dormant or closed.")
    balance: MoneySchema = Field(description="Booked (posted) balance.")
    available: MoneySchema = Field(description="Balance after pending holds.")


class AccountPage(Schema):
    data: list[AccountSchema]
    has_more: bool
    next_cursor: str | None


class TransactionSchema(Schema):
    id: str = Field(
        description=(
            "The entry's public id: the transfer's id (trf_…, as on its receipt) for a "
            "transfer, cau_… for a card payment, ent_… for anything else."
        )
    )
    created_at: dt.datetime
    value_date: dt.date
    amount: MoneySchema = Field(description="Positive; see direction.")
    direction: str = Field(description="credit (money in) or debit (money out).")
    status: str = Field(description="posted, pending, voided or expired.")
    description: str
    counterparty_account: str


class TransactionPage(Schema):
    data: list[TransactionSchema]
    has_more: bool
    next_cursor: str | None


class TransferRequestSchema(Schema):
    model_config = ConfigDict(extra="forbid")

    from_account: SingleLineText = Field(max_length=64, description="Your account id (acc_…).")
    to_account_number: SingleLineText = Field(min_length=1, max_length=34)
    amount: MoneySchema
    reference: SingleLineText = Field("", max_length=140)
    to_name: SingleLineText = Field(
        "", max_length=140, description="Payee name (required for other banks)."
    )
    to_bank_code: SingleLineText = Field(
        "", max_length=12, description="Payee bank: 12-digit CNAPS code or BIC (other banks)."
    )


class TransferSchema(Schema):
    id: str
    status: str = Field(description="completed, awaiting_clearing or sent.")
    kind: str = Field(description="own, internal or interbank.")
    from_account: str
    to_account_number: str
    amount: MoneySchema
    reference: str
    created_at: dt.datetime
    business_date: dt.date


class IdempotencyHeaders(Schema):
    idempotency_key: SingleLineText = Field(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="Required: the same key and body replay the first response.",
    )


class StatementParams(Schema):
    period_start: dt.date = Field(alias="from", description="First business date, YYYY-MM-DD.")
    period_end: dt.date = Field(alias="to", description="Last business date, YYYY-MM-DD.")
    statement_format: Literal["camt053", "csv", "pdf"] = Field(alias="format")


class OptionalIdempotencyHeaders(Schema):
    idempotency_key: SingleLineText | None = Field(
        None,
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="Optional: the same key and body replay the first response.",
    )


class CardSchema(Schema):
    id: str = Field(description="Opaque card id (dbc_…).")
    account: str = Field(description="The card's account (acc_…).")
    last_four: str = Field(description="The last four digits; the number itself is never shown.")
    expiry_month: int
    expiry_year: int
    status: str = Field(description="active, frozen (by you) or blocked (by the bank).")
    per_transaction_limit: MoneySchema
    daily_limit: MoneySchema


class CardPage(Schema):
    data: list[CardSchema]
    has_more: bool
    next_cursor: str | None


class CardLimitsRequestSchema(Schema):
    model_config = ConfigDict(extra="forbid")

    per_transaction_limit: MoneySchema = Field(description="At most the daily limit.")
    daily_limit: MoneySchema = Field(description="At most 1,000,000.00.")


class PayeeSchema(Schema):
    id: str = Field(description="Opaque payee id (pye_…).")
    name: str
    account_number: str
    bank_code: str = Field(description="CNAPS code or BIC for another bank; empty for this bank.")
    created_at: dt.datetime


class PayeePage(Schema):
    data: list[PayeeSchema]
    has_more: bool
    next_cursor: str | None


class PayeeRequestSchema(Schema):
    model_config = ConfigDict(extra="forbid")

    name: SingleLineText = Field(
        min_length=1,
        max_length=140,
        description="For an account of this bank: the holder's name (confirmation of payee).",
    )
    account_number: SingleLineText = Field(min_length=1, max_length=34)
    bank_code: SingleLineText = Field(
        "", max_length=12, description="CNAPS code or BIC (other banks)."
    )


class StandingOrderSchema(Schema):
    id: str = Field(description="Opaque standing order id (sto_…).")
    from_account: str
    to_account_number: str
    to_name: str
    to_bank_code: str
    amount: MoneySchema
    reference: str
    frequency: str = Field(description="once, weekly or monthly.")
    next_date: dt.date | None = Field(description="The next execution date; null once ended.")
    anchor_day: int = Field(description="Monthly orders run on this day (or the month's end).")
    is_active: bool
    last_error: str = Field(description="Why the last run failed, if it did.")
    created_at: dt.datetime


class StandingOrderPage(Schema):
    data: list[StandingOrderSchema]
    has_more: bool
    next_cursor: str | None


class StandingOrderRequestSchema(Schema):
    model_config = ConfigDict(extra="forbid")

    from_account: SingleLineText = Field(max_length=64, description="Your account id (acc_…).")
    to_account_number: SingleLineText = Field(min_length=1, max_length=34)
    amount: MoneySchema
    reference: SingleLineText = Field("", max_length=140)
    to_name: SingleLineText = Field(
        "", max_length=140, description="Payee name (required for other banks; checked here)."
    )
    to_bank_code: SingleLineText = Field("", max_length=12)
    frequency: Literal["once", "weekly", "monthly"]
    first_date: dt.date = Field(description="Not in the past, at most 365 days ahead.")
