"""Cursor pagination helpers: pages by public id and the API's page body."""

from __future__ import annotations

import pytest
from django.utils import timezone
from ninja import Schema

from bankmall.core.ids import new_id
from bankmall.core.models import IntegrityRun
from bankmall.core.pagination import PageParams, page_by_public_id, page_schema, paginate_sequence


class NamePage(Schema):
    data: list[str]
    has_more: bool
    next_cursor: str | None


def test_a_page_body_holds_each_row_as_its_item_schema() -> None:
    found = paginate_sequence(["a", "c"], key=str, limit=1, starting_after=None)

    body = page_schema(NamePage, found, str.upper)

    assert body == NamePage(data=["A"], has_more=True, next_cursor="a")


def test_the_last_page_has_no_cursor() -> None:
    found = paginate_sequence(["a", "b"], key=str, limit=5, starting_after="a")

    assert page_schema(NamePage, found, str) == NamePage(
        data=["b"], has_more=False, next_cursor=None
    )


@pytest.mark.django_db
def test_rows_are_paged_by_public_id_after_the_cursor() -> None:
    now = timezone.now()
    ids = sorted(new_id("chk") for _ in range(3))
    for public_id in reversed(ids):
        IntegrityRun.objects.create(
            public_id=public_id, started_at=now, finished_at=now, passed=True, triggered_by="t"
        )
    runs = IntegrityRun.objects.all()

    first = page_by_public_id(runs, PageParams(limit=2))
    rest = page_by_public_id(runs, PageParams(limit=2, starting_after=first.next_cursor))

    assert [run.public_id for run in first.data] == ids[:2]
    assert (first.has_more, first.next_cursor) == (True, ids[1])
    assert [run.public_id for run in rest.data] == ids[2:]
    assert (rest.has_more, rest.next_cursor) == (False, None)
