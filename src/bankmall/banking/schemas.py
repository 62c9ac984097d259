"""HTTP schemas of the customer banking API (API.md core paths)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from bankmall.core.schemas import MoneySchema


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

    from_account: str = Field(max_length=64, description="Your account id (acc_…).")
    to_account_number: str = Field(min_length=1, max_length=34)
    amount: MoneySchema
    reference: str = Field("", max_length=140)
    to_name: str = Field("", max_length=140, description="Payee name (required for other banks).")
    to_bank_code: str = Field(
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
    idempotency_key: str = Field(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="Required: the same key and body replay the first response.",
    )


class StatementParams(Schema):
    period_start: dt.date = Field(alias="from", description="First business date, YYYY-MM-DD.")
    period_end: dt.date = Field(alias="to", description="Last business date, YYYY-MM-DD.")
    statement_format: Literal["camt053", "csv", "pdf"] = Field(alias="format")
