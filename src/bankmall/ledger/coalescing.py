"""Group commit: concurrent callers in one process hand their batches to one writer thread.

Why: every ledger transaction appends to the audit hash chain, whose head row serialises all
writers until their commit is flushed. One transfer per transaction therefore runs at most at
one commit flush per transfer, far below what the database can do. The writer takes whatever
requests are waiting (up to ``BATCH_MAX`` transfers), posts them in one transaction with one
audit record and one event, and hands each caller its own result or its own error, as
TigerBeetle and Blnk batch requests. A caller's batch keeps its all-or-nothing meaning: a batch
that fails is taken out and the others are committed without it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import queue
import threading
import time
from collections.abc import Sequence
from typing import Final

from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from bankmall.core.errors import BankmallError
from bankmall.ledger import fastpath, posting, sqlitepath
from bankmall.ledger.committing import commit_rows, record_batch, set_expiry
from bankmall.ledger.values import BATCH_MAX, TransferRequest, TransferView

WAIT_SECONDS_MAX: Final = 60.0
GROUP_REQUESTS_MAX: Final = 512
LINGER_SECONDS: Final = 0.0005


@dataclasses.dataclass(slots=True)
class _Pending:
    rows: list[posting.Row]
    client: str
    actor: str | None
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    result: list[TransferView] | None = None
    error: BaseException | None = None

    def finish(self, result: list[TransferView] | None, error: BaseException | None) -> None:
        self.result, self.error = result, error
        self.done.set()


class TransferWriter:
    """One writer thread that commits the batches submitted to it in groups."""

    def __init__(self) -> None:
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(
        self, requests: Sequence[TransferRequest], *, client: str, actor: str | None
    ) -> list[TransferView]:
        """Post ``requests`` as one linked batch, committed together with other callers'."""
        if transaction.get_connection().in_atomic_block:
            raise RuntimeError("submit_transfers commits on its own; use create_transfers here")
        posting.check_batch(requests, client)
        rows = [posting.prepare(index, request) for index, request in enumerate(requests)]
        posting.check_duplicate_keys(rows)
        pending = _Pending(rows=rows, client=client, actor=actor)
        self._ensure_thread()
        self._queue.put(pending)
        if not pending.done.wait(WAIT_SECONDS_MAX):
            raise TimeoutError("the ledger writer did not answer; retry with the same keys")
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Let the writer finish what it holds, close its connection and end (tests, shutdown)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout=WAIT_SECONDS_MAX)

    def _run(self) -> None:
        carried: list[_Pending] = []
        try:
            while True:
                first = carried[0] if carried else self._queue.get()
                if first is None:
                    return
                group, carried = _fill([first, *carried[1:]], self._queue)
                if connection.errors_occurred:
                    # Only after a database error: a health check per group would cost a
                    # round trip each time.
                    close_old_connections()
                for same in _by_caller(group):
                    _commit_group(same)
        finally:
            connection.close()


def _fill(
    group: list[_Pending], waiting: queue.Queue[_Pending | None]
) -> tuple[list[_Pending], list[_Pending]]:
    """Add waiting requests while the group stays within the batch limit and has unique keys."""
    carried: list[_Pending] = []
    size = sum(len(item.rows) for item in group)
    keys = {(item.client, row.key) for item in group for row in item.rows}
    # Linger briefly: callers answered by the previous commit are about to submit again, and
    # one commit for all of them beats two half-full ones.
    linger_until = time.monotonic() + LINGER_SECONDS
    while len(group) < GROUP_REQUESTS_MAX:
        try:
            item = waiting.get(timeout=max(0.0, linger_until - time.monotonic()))
        except queue.Empty:
            break
        if item is None:
            waiting.put(None)  # Stop after this group.
            break
        item_keys = {(item.client, row.key) for row in item.rows}
        if size + len(item.rows) > BATCH_MAX or keys & item_keys:
            # A concurrent retry with the same key goes into the next group, where it is
            # answered idempotently instead of failing as a duplicate within one batch.
            carried.append(item)
            break
        group.append(item)
        size += len(item.rows)
        keys |= item_keys
    return group, carried


def _by_caller(group: list[_Pending]) -> list[list[_Pending]]:
    # One audit record names one actor and one event one client: group by both.
    groups: dict[tuple[str, str | None], list[_Pending]] = {}
    for item in group:
        groups.setdefault((item.client, item.actor), []).append(item)
    return list(groups.values())


def _commit_group(items: list[_Pending]) -> None:
    remaining = list(items)
    for _attempt in range(len(items) + 1):
        if len(remaining) <= 1:
            break
        owners, rows = _combined(remaining)
        now = timezone.now()
        set_expiry(rows, now)
        client, actor = remaining[0].client, remaining[0].actor
        if any(
            path.applies(rows) and path.try_post(rows, client=client, actor=actor, now=now)
            for path in (fastpath, sqlitepath)
        ):
            _deliver(remaining, rows, now)
            return
        try:
            with transaction.atomic():
                posting.post_batch(rows, client=remaining[0].client, now=now)
                record_batch(rows, client=remaining[0].client, actor=remaining[0].actor, now=now)
        except BankmallError as error:
            index = error.extra.get("transfer_index")
            if not isinstance(index, int):
                break
            failed = owners[index]
            error.extra["transfer_index"] = index - owners.index(failed)
            failed.finish(None, error)
            remaining = [item for item in remaining if item is not failed]
            continue
        except Exception:  # noqa: BLE001
            # Keys that exist (retries) or a concurrent resolution: answer each caller on its
            # own, through the path that handles both precisely.
            break
        _deliver(remaining, rows, now)
        return
    for item in remaining:
        _commit_alone(item)


def _commit_alone(item: _Pending) -> None:
    try:
        item.finish(commit_rows(item.rows, client=item.client, actor=item.actor), None)
    except BaseException as error:  # noqa: BLE001  (the caller re-raises it in its own thread)
        item.finish(None, error)


def _combined(items: list[_Pending]) -> tuple[list[_Pending], list[posting.Row]]:
    owners: list[_Pending] = []
    rows: list[posting.Row] = []
    for item in items:
        for row in item.rows:
            rows.append(dataclasses.replace(row, index=len(rows)))
            owners.append(item)
    return owners, rows


def _deliver(items: list[_Pending], rows: list[posting.Row], now: dt.datetime) -> None:
    start = 0
    for item in items:
        mine = rows[start : start + len(item.rows)]
        start += len(item.rows)
        item.finish(posting.views_of(mine, client=item.client, now=now), None)


_writer = TransferWriter()


def stop_writer() -> None:
    _writer.stop()


def submit(
    requests: Sequence[TransferRequest], *, client: str, actor: str | None = None
) -> list[TransferView]:
    return _writer.submit(requests, client=client, actor=actor)
