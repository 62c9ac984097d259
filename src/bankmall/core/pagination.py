"""Cursor pagination as API.md fixes it.

Requests take ``?limit=&starting_after=``; pages are ``{data, has_more, next_cursor}``.

An API operation pages its rows (``page_by_public_id`` for a query set, ``paginate_sequence``
for a list) and answers ``page_schema(XPage, page, item_schema)``.

Public ids sort by creation time (see ``core.ids``), so "the page after id X" is simply
"ids greater than X" in id order: stable while rows are added, and cheap on an index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from django.db.models import Model, QuerySet
from ninja import Schema
from pydantic import Field

from bankmall.core.text import SingleLineText

LIMIT_DEFAULT: Final = 20
LIMIT_MAX: Final = 100

T = TypeVar("T")
M = TypeVar("M", bound=Model)
S = TypeVar("S", bound=Schema)


class PageParams(Schema):
    limit: int = Field(LIMIT_DEFAULT, ge=1, le=LIMIT_MAX, description="Page size, 1 to 100.")
    starting_after: SingleLineText | None = Field(
        None, max_length=64, description="Return items after this id (the previous next_cursor)."
    )


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    data: list[T]
    has_more: bool
    next_cursor: str | None


def paginate_sequence(
    items: Sequence[T], *, key: Callable[[T], str], limit: int, starting_after: str | None
) -> Page[T]:
    """Paginate an in-memory sequence already sorted by ``key``."""
    start = 0
    if starting_after is not None:
        start = next((i for i, item in enumerate(items) if key(item) > starting_after), len(items))
    window = list(items[start : start + limit + 1])
    has_more = len(window) > limit
    data = window[:limit]
    return Page(data=data, has_more=has_more, next_cursor=key(data[-1]) if has_more else None)


def paginate_queryset(
    queryset: QuerySet[M], *, field: str, limit: int, starting_after: str | None
) -> Page[M]:
    """Paginate ``queryset`` by the ascending unique column ``field`` (usually ``public_id``)."""
    if starting_after is not None:
        queryset = queryset.filter(**{f"{field}__gt": starting_after})
    window = list(queryset.order_by(field)[: limit + 1])
    has_more = len(window) > limit
    data = window[:limit]
    cursor = str(getattr(data[-1], field)) if has_more else None
    return Page(data=data, has_more=has_more, next_cursor=cursor)


def page_by_public_id(queryset: QuerySet[M], params: PageParams) -> Page[M]:
    """``queryset`` paginated by ``public_id`` with the request's ``?limit=&starting_after=``."""
    return paginate_queryset(
        queryset, field="public_id", limit=params.limit, starting_after=params.starting_after
    )


def page_schema(schema: type[S], page: Page[T], item: Callable[[T], Any]) -> S:
    """``page`` as the API's page body ``schema`` (``{data, has_more, next_cursor}``), each
    row made into its item schema by ``item``."""
    return schema.model_validate(
        {
            "data": [item(row) for row in page.data],
            "has_more": page.has_more,
            "next_cursor": page.next_cursor,
        }
    )
