"""API schemas shared by every app: Money, problems, cursor pages."""

from __future__ import annotations

from typing import Annotated

from ninja import Schema
from pydantic import ConfigDict, Field, StrictInt, field_validator

from bankmall.core.money import Money, UnknownCurrency, currency_info
from bankmall.core.text import SingleLineText

AMOUNT_MINOR_MAX = 2**63 - 1


class MoneySchema(Schema):
    """Money as API.md fixes it: an integer ``amount`` in minor units and a ``currency`` code."""

    model_config = ConfigDict(extra="forbid")

    amount: Annotated[StrictInt, Field(ge=-AMOUNT_MINOR_MAX, le=AMOUNT_MINOR_MAX)] = Field(
        description="Integer amount in the currency's minor units (fen for CNY).",
        examples=[12345],
    )
    currency: SingleLineText = Field(
        description="ISO 4217 alphabetic code.", examples=["CNY"], min_length=3, max_length=3
    )

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        try:
            currency_info(value)
        except UnknownCurrency as error:
            raise ValueError(error.detail) from None
        return value

    def to_money(self) -> Money:
        return Money(self.amount, self.currency)

    @classmethod
    def of(cls, money: Money) -> MoneySchema:
        return cls(amount=money.amount_minor, currency=money.currency)


class FieldErrorSchema(Schema):
    field: str
    message: str


class ProblemSchema(Schema):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable code; see /problems/.")
    errors: list[FieldErrorSchema] | None = None
    request_id: str | None = None
