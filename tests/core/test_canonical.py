"""Canonical JSON gives the same bytes for the same value, and the bytes never change: digests
and audit hashes already stored depend on them. The expected values below were produced by
the encoder as it was before its fast paths (``json.dumps`` with sorted keys, a conversion
call per item), so a change that moves one byte fails here."""

from __future__ import annotations

import collections
import datetime as dt
import enum
import json
from decimal import Decimal
from typing import Any

import pytest

from bankmall.core.canonical import canonical_json, digest, stored_json, to_jsonable
from bankmall.core.money import Money

BEIJING = dt.timezone(dt.timedelta(hours=8))

#: Every kind of value ``to_jsonable`` converts, nested, with text that JSON must escape.
GENERAL: dict[Any, Any] = {
    "amount": Money(12345, "CNY"),
    "fee": Money(-7, "EUR"),
    "rate": Decimal("1.2500"),
    "at": dt.datetime(2026, 11, 27, 23, 59, 58, 123456, tzinfo=BEIJING),
    "on": dt.date(2026, 2, 28),
    "nested": {"b": [1, 2, (3, "四")], 7: True, "a": None, "z": {"deep": [Money(1, "JPY")]}},
    "text": 'Zürich — 北京 "quoted" \\ \n\t\u2028 😀',
    "big": 10**20,
    "flag": False,
}
#: The shape of a ledger audit record's details: plain strings and integers only.
PLAIN = {"client": "bench", "count": 1, "first_key": "k:1"}
IDS = ["trf_01", "trf_02"]

GENERAL_CANONICAL = (
    '{"amount":{"amount":12345,"currency":"CNY"},"at":"2026-11-27T15:59:58.123456Z",'
    '"big":100000000000000000000,"fee":{"amount":-7,"currency":"EUR"},"flag":false,'
    '"nested":{"7":true,"a":null,"b":[1,2,[3,"四"]],"z":{"deep":[{"amount":1,"currency":"JPY"}]}},'
    '"on":"2026-02-28","rate":"1.2500","text":"Zürich — 北京 \\"quoted\\" \\\\ \\n\\t\u2028 😀"}'
).encode()
#: ``json.dumps`` with its defaults, as the stored details and event payloads are written.
GENERAL_STORED = (
    '{"amount": {"amount": 12345, "currency": "CNY"}, "fee": {"amount": -7, "currency": "EUR"},'
    ' "rate": "1.2500", "at": "2026-11-27T15:59:58.123456Z", "on": "2026-02-28", "nested":'
    ' {"b": [1, 2, [3, "\\u56db"]], "7": true, "a": null, "z": {"deep": [{"amount": 1,'
    ' "currency": "JPY"}]}}, "text": "Z\\u00fcrich \\u2014 \\u5317\\u4eac \\"quoted\\" \\\\'
    ' \\n\\t\\u2028 \\ud83d\\ude00", "big": 100000000000000000000, "flag": false}'
)


@pytest.mark.parametrize(
    ("value", "canonical", "expected_digest"),
    [
        (
            GENERAL,
            GENERAL_CANONICAL,
            "c881d9a0f99d3dc56c93db260d479078f179c61f3e2dc852ae6c899321e38a22",
        ),
        (
            PLAIN,
            b'{"client":"bench","count":1,"first_key":"k:1"}',
            "ec327629f3dca489c7bddd3ef6ee9e918f5a2a7425d2da525821ca12e445f103",
        ),
        (
            IDS,
            b'["trf_01","trf_02"]',
            "c92adab9cb7039f932fbb8d5555d6b1eafee40d6983f8edf7255d256b0531f1b",
        ),
    ],
    ids=["general", "plain", "list"],
)
def test_canonical_bytes_and_digests_are_the_ones_already_stored(
    value: Any, canonical: bytes, expected_digest: str
) -> None:
    assert canonical_json(value) == canonical
    assert digest(value) == expected_digest


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (GENERAL, GENERAL_STORED),
        (PLAIN, '{"client": "bench", "count": 1, "first_key": "k:1"}'),
        (IDS, '["trf_01", "trf_02"]'),
    ],
    ids=["general", "plain", "list"],
)
def test_the_stored_json_of_a_converted_value_is_unchanged(value: Any, stored: str) -> None:
    assert json.dumps(to_jsonable(value)) == stored
    assert stored_json(to_jsonable(value)) == stored


@pytest.mark.parametrize(
    "value", ["plain ü \u2028", 'q"\\', 0, -(10**20), True, None, [], {}, [{"b": [None]}]]
)
def test_the_encoders_made_once_write_what_a_new_encoder_writes(value: Any) -> None:
    assert stored_json(value) == json.dumps(value)
    assert canonical_json(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def test_converting_twice_gives_the_same_value_and_a_new_container() -> None:
    once = to_jsonable(GENERAL)

    twice = to_jsonable(once)

    assert twice == once
    assert twice is not once
    assert twice["nested"] is not once["nested"]
    assert to_jsonable(PLAIN) == PLAIN
    assert to_jsonable(PLAIN) is not PLAIN


class Kind(enum.StrEnum):
    CARD = "card"


class Level(enum.IntEnum):
    HIGH = 2


def test_subclasses_and_other_containers_take_the_general_path_to_the_same_bytes() -> None:
    value = collections.OrderedDict([("z", Kind.CARD), ("a", (Level.HIGH, True))])

    assert canonical_json(value) == b'{"a":[2,true],"z":"card"}'
    assert json.dumps(to_jsonable(value)) == '{"z": "card", "a": [2, true]}'
    assert stored_json(to_jsonable(value)) == '{"z": "card", "a": [2, true]}'
    assert canonical_json((1, "ü")) == '[1,"ü"]'.encode()
    assert canonical_json("plain ü") == '"plain ü"'.encode()
    assert canonical_json(None) == b"null"


def test_a_later_key_that_converts_to_the_same_text_wins_as_before() -> None:
    assert to_jsonable({1: "int", "1": "str"}) == {"1": "str"}
    assert canonical_json({"1": "str", 1: "int"}) == b'{"1":"int"}'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"rate": 1.5}, "floats are not allowed"),
        ([1, {"at": dt.datetime(2026, 1, 1)}], "naive datetimes are not allowed"),  # noqa: DTZ001
        ({"items": {1, 2}}, "set is not JSON-serialisable here"),
    ],
    ids=["float", "naive-datetime", "set"],
)
def test_values_without_one_json_form_are_refused(value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        canonical_json(value)
