"""Reference data in the HTTP API: the currencies the system can hold."""

from __future__ import annotations

from iso4217 import Currency
from ninja import Query, Router, Schema

from bankmall.core.errors import NotFound
from bankmall.core.money import CurrencyInfo, UnknownCurrency, currency_info
from bankmall.core.pagination import PageParams, page_schema, paginate_sequence
from bankmall.core.schemas import ProblemSchema

router = Router(tags=["reference"])


class CurrencySchema(Schema):
    code: str
    numeric: int
    exponent: int
    name: str


class CurrencyPage(Schema):
    data: list[CurrencySchema]
    has_more: bool
    next_cursor: str | None


def _schema(info: CurrencyInfo) -> CurrencySchema:
    return CurrencySchema(
        code=info.code, numeric=info.numeric, exponent=info.exponent, name=info.name
    )


def _all_currencies() -> list[CurrencySchema]:
    rows = []
    for member in Currency:
        try:
            info = currency_info(member.code)
        except UnknownCurrency:
            continue
        rows.append(_schema(info))
    return sorted(rows, key=lambda row: row.code)


@router.get("/currencies", response={200: CurrencyPage, 422: ProblemSchema})
def list_currencies(request: object, page: Query[PageParams]) -> CurrencyPage:
    """ISO 4217 currencies that can hold money, with their minor-unit exponents."""
    result = paginate_sequence(
        _all_currencies(),
        key=lambda row: row.code,
        limit=page.limit,
        starting_after=page.starting_after,
    )
    return page_schema(CurrencyPage, result, lambda row: row)


@router.get("/currencies/{code}", response={200: CurrencySchema, 404: ProblemSchema})
def get_currency(request: object, code: str) -> CurrencySchema:
    """One currency by its ISO 4217 alphabetic code."""
    try:
        info = currency_info(code)
    except UnknownCurrency:
        raise NotFound(f"No currency {code!r}") from None
    return _schema(info)
