"""Public ids are opaque, prefixed, unguessable and sort by creation time."""

from __future__ import annotations

import pytest

from bankmall.core.errors import NotFound
from bankmall.core.ids import is_valid_id, new_id, require_id


def test_new_id_has_prefix_and_26_base32_characters() -> None:
    value = new_id("cus")

    assert value.startswith("cus_")
    assert len(value) == 30
    assert is_valid_id("cus", value)


def test_ids_are_unique_and_sort_by_creation_time() -> None:
    earlier = [new_id("trf", now_ms=1_700_000_000_000) for _ in range(500)]
    later = new_id("trf", now_ms=1_700_000_000_001)

    assert len(set(earlier)) == 500
    assert all(value < later for value in earlier)


@pytest.mark.parametrize("prefix", ["", "C", "cus1", "toolong", "cu-s"])
def test_new_id_refuses_bad_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        new_id(prefix)


@pytest.mark.parametrize(
    "value", ["acc_01", "cus_" + "i" * 26, "cus_" + "0" * 27, 42, None, "acc_" + "0" * 26]
)
def test_require_id_answers_not_found_for_malformed_or_foreign_ids(value: object) -> None:
    with pytest.raises(NotFound):
        require_id("cus", value)


def test_require_id_returns_a_well_formed_id() -> None:
    value = new_id("cus")

    assert require_id("cus", value) == value
