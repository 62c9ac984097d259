"""The content digest of a batch of transfers: tamper evidence for the rows themselves.

Every batch's audit record ``ledger.transfers_created`` carries in its details
``contents_digest``: over the batch's transfers as stored, the sum modulo 2**256 of one keyed
SHA-256 per transfer. The audit chain's HMAC protects the record, so a row edited afterwards
(by someone who lifted the triggers that refuse it, ``guards.py``) no longer adds up to it;
``bankmall check`` recomputes every batch's digest from the rows (``queries``).

Why a sum of per-transfer hashes and not one hash over the batch: the check finds a batch's
rows by their client and ``created_at`` (a batch shares both and nothing else marks it), and
two batches of one client can be written in the same microsecond; their rows are then one
group, whose digest is the sum of the two records' digests. A sum is also independent of the
rows' order, which the database does not keep. Each per-transfer hash is keyed
(``AUDIT_CHAIN_KEY``, as the chain), so nobody without the key can choose edited rows whose
hashes add up to the same sum.

Every column a transfer stores but its database id goes in, in one canonical text per
transfer made by ``transfer_line`` (with the batch's client and ``created_at``) from the
values every write path holds and the check reads back: ids as public ids, amounts as
integers, dates in ISO 8601, instants as microseconds since the epoch, metadata as canonical
JSON (a float that is a whole number written as the integer, since PostgreSQL's ``jsonb`` may
give ``1e16`` back as ``10000000000000000``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from django.conf import settings

#: The key of ``contents_digest`` in the audit record's details.
DETAILS_KEY: Final = "contents_digest"
#: The audit action of every batch of new transfers, and the event type its record announces
#: (``posting.audit_content``); its details carry the batch's ``DETAILS_KEY``.
BATCH_ACTION: Final = "ledger.transfers_created"
_MODULUS: Final = 1 << 256
#: Whole floats up to this size are written as integers (exact in a float below it).
_EXACT_MAX: Final = 1 << 53
_SEPARATOR: Final = "\x1f"  # Refused in every text field of a transfer; JSON escapes it.
_DOMAIN: Final = b"bankmall ledger transfer contents v1\x00"

_keyed: dict[str, Any] = {}


def _keyed_hash() -> Any:
    """SHA-256 that has absorbed one 64-byte block derived from ``AUDIT_CHAIN_KEY``: each
    transfer's hash continues a copy of it."""
    key = settings.AUDIT_CHAIN_KEY  # Read each time: tests change it.
    state = _keyed.get(key)
    if state is None:
        block = hashlib.sha256(_DOMAIN + key.encode()).digest() * 2
        state = hashlib.sha256(block)
        _keyed.clear()
        _keyed[key] = state
    return state


def instant_text(value: dt.datetime | None) -> str:
    """An aware datetime as microseconds since the Unix epoch (empty for ``None``): whatever
    its time zone, and a sixth of the cost of ``isoformat``."""
    if value is None:
        return ""
    return str((value - _EPOCH) // _MICROSECOND)


_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND: Final = dt.timedelta(microseconds=1)


def metadata_text(metadata: Mapping[str, Any]) -> str:
    """``metadata`` as canonical JSON: sorted keys, no spaces, ASCII, whole floats as
    integers (``jsonb`` keeps a number's value, not its spelling)."""
    if not metadata:
        return "{}"
    if type(metadata) is dict and all(
        type(key) is str and type(value) is str for key, value in metadata.items()
    ):
        return _CANONICAL.encode(metadata)  # The common shape: nothing to normalise.
    return _CANONICAL.encode(_normalized(metadata))


#: Made once: ``json.dumps`` with options builds an encoder per call.
_CANONICAL: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _normalized(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) <= _EXACT_MAX else value
    if isinstance(value, int):
        # Beyond 2**53 a number may come back from jsonb as either type: compare as floats.
        return value if abs(value) <= _EXACT_MAX else _large(value)
    if isinstance(value, Mapping):
        return {_key_text(key): _normalized(item) for key, item in value.items()}
    return [_normalized(item) for item in value]


def _key_text(key: Any) -> str:
    """A mapping key as ``json.dumps`` writes it (and the stored JSON gives it back)."""
    if isinstance(key, str):
        return key
    return json.dumps(key)


def _large(value: int) -> float | int:
    try:
        return float(value)
    except OverflowError:
        return value


def transfer_line(  # noqa: PLR0917 (a transfer's fields, in one place)
    public_id: str,
    key: str,
    request_digest: str,
    kind: str,
    debit_account: str,
    credit_account: str,
    amount_minor: int,
    currency: str,
    code: str,
    reference: str,
    metadata: str,
    value_date: str,
    pending: str,
    reverses: str,
    expires_at: str,
) -> bytes:
    """One transfer's canonical text: accounts and referenced transfers by public id (empty
    when none), ``metadata`` from ``metadata_text``, ``value_date`` ISO, ``expires_at`` from
    ``instant_text``."""
    return _SEPARATOR.join(
        (
            public_id,
            key,
            request_digest,
            kind,
            debit_account,
            credit_account,
            str(amount_minor),
            currency,
            code,
            reference,
            metadata,
            value_date,
            pending,
            reverses,
            expires_at,
        )
    ).encode()


def digest_lines(lines: Iterable[bytes], *, client: str, created_at: dt.datetime) -> int:
    """The sum of the keyed hashes of ``lines`` (``transfer_line``), each with the batch's
    ``client`` and ``created_at``, modulo 2**256."""
    keyed = _keyed_hash()
    batch = f"{client}{_SEPARATOR}{instant_text(created_at)}{_SEPARATOR}".encode()
    total = 0
    for line in lines:
        one = keyed.copy()
        one.update(batch + line)
        total += int.from_bytes(one.digest())
    return total % _MODULUS


def digest_sum(digests: Iterable[int | None]) -> int:
    """The digest of batches checked together: their digests' sum, modulo 2**256 (``None``,
    a record without one, counts as 0: the caller skips such batches)."""
    return sum(digest or 0 for digest in digests) % _MODULUS


def digest_text(total: int) -> str:
    """A digest sum as the record stores it (64 hex digits)."""
    return f"{total % _MODULUS:064x}"


def parse_digest(text: object) -> int | None:
    """A stored digest back as a number; ``None`` when absent or not 64 hex digits."""
    if not isinstance(text, str) or len(text) != 64:  # noqa: PLR2004
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None
