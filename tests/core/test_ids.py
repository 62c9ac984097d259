"""Public ids are opaque, prefixed, unguessable and sort by creation time."""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection

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


def test_the_first_ten_characters_are_the_millisecond_timestamp_in_crockford_base32() -> None:
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    for moment in (0, 1, 1023, 1024, 1_700_000_000_000, 1_700_000_001_023, 2**48 - 1):
        expected = "".join(alphabet[(moment >> (5 * n)) & 31] for n in range(9, -1, -1))

        assert new_id("trf", now_ms=moment)[4:14] == expected


def test_the_random_characters_are_spread_over_the_whole_alphabet() -> None:
    counts = Counter("".join(new_id("trf")[14:] for _ in range(2_000)))  # 32,000 characters

    assert len(counts) == 32
    assert min(counts.values()) > 800  # 1,000 each expected; 800 is over 6 sigma below


def _child_id(connection: Connection) -> None:
    connection.send(new_id("trf", now_ms=1))


def test_a_forked_process_never_repeats_the_parents_random_characters() -> None:
    # Random bytes are read from the OS in chunks; a child forked from a parent holding an
    # unread chunk must not take the same bytes as the parent's next ids.
    new_id("trf")  # The parent now holds a partly read chunk.
    receiving, sending = multiprocessing.get_context("fork").Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_child_id, args=(sending,))
    child.start()
    from_child = receiving.recv()
    child.join(timeout=30)

    assert from_child != new_id("trf", now_ms=1)
    assert os.getpid() != child.pid


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


def test_threads_drawing_ids_at_once_never_share_random_characters() -> None:
    # Random parts are cut from a shared chunk of OS bytes, each taken by one atomic pop; a
    # thread finding none cuts its own chunk. 8 threads x 1,000 ids cross many chunks.
    def draw(_thread: int) -> list[str]:
        return [new_id("trf", now_ms=1)[14:] for _ in range(1_000)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        parts = [part for drawn in pool.map(draw, range(8)) for part in drawn]

    assert len(set(parts)) == len(parts) == 8_000


def test_a_prefix_is_checked_on_every_call_until_it_is_known_good() -> None:
    assert new_id("ab").startswith("ab_")
    with pytest.raises(ValueError, match="prefix"):
        new_id("ab1")
    with pytest.raises(ValueError, match="prefix"):
        new_id("ab1")
