"""Field-level encryption of personal data: AES-256-GCM with a key ring, plus blind indexes.

A stored value is ``v1:<key id>:<base64url(nonce || ciphertext || tag)>``. The key id names the
ring key that encrypted it, so keys can be rotated without a flag day: new values use the
active key, old values stay readable until ``bankmall keys rotate`` re-encrypts them. The
associated data binds a ciphertext to its column (``app.model.field``), so a value copied into
another column does not decrypt.

A blind index is ``HMAC-SHA256(blind index key, normalised value)``: equal inputs give equal
hashes, so an exact-match search works without decrypting, and the hash reveals nothing
without the key.

The ring comes from the environment in production (``FIELD_ENCRYPTION_KEYS``,
``FIELD_ENCRYPTION_ACTIVE_KEY``, ``BLIND_INDEX_KEY``) and from ``keyring.json`` in the data
directory otherwise, generated on first use with owner-only permissions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

VERSION: Final = "v1"
KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
_KEY_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9-]{1,16}$")


class DecryptionFailed(Exception):
    """A stored value is malformed, names an unknown key, or was tampered with."""


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Encryption keys by id, the id new values use, and the blind-index key."""

    keys: dict[str, bytes]
    active_key_id: str
    blind_index_key: bytes

    def __post_init__(self) -> None:
        if self.active_key_id not in self.keys:
            raise ImproperlyConfigured(
                f"the active field key {self.active_key_id!r} is not in the ring"
            )
        for key_id, key in self.keys.items():
            if not _KEY_ID_PATTERN.match(key_id) or len(key) != KEY_BYTES:
                raise ImproperlyConfigured(f"field key {key_id!r} must be 32 bytes with a short id")
        if len(self.blind_index_key) < KEY_BYTES:
            raise ImproperlyConfigured("the blind index key must be at least 32 bytes")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured("a field encryption key is not valid base64") from None


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _ring_from_environment() -> KeyRing:
    keys = {}
    for item in settings.FIELD_ENCRYPTION_KEYS.split(","):
        key_id, _, encoded = item.strip().partition(":")
        keys[key_id] = _b64decode(encoded)
    return KeyRing(
        keys=keys,
        active_key_id=settings.FIELD_ENCRYPTION_ACTIVE_KEY,
        blind_index_key=_b64decode(settings.BLIND_INDEX_KEY),
    )


def _ring_from_file(path: Path) -> KeyRing:
    data = json.loads(path.read_text(encoding="utf-8"))
    return KeyRing(
        keys={key_id: _b64decode(value) for key_id, value in data["keys"].items()},
        active_key_id=data["active"],
        blind_index_key=_b64decode(data["blind_index_key"]),
    )


def _write_ring_file(path: Path, ring: KeyRing) -> None:
    data = {
        "keys": {key_id: _b64encode(key) for key_id, key in ring.keys.items()},
        "active": ring.active_key_id,
        "blind_index_key": _b64encode(ring.blind_index_key),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
    temporary.replace(path)


def _uses_environment() -> bool:
    return bool(settings.FIELD_ENCRYPTION_KEYS)


@cache
def key_ring() -> KeyRing:
    """The process's key ring (read once; ``reload_key_ring`` after a change)."""
    if _uses_environment():
        return _ring_from_environment()
    if settings.IS_PRODUCTION:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS, FIELD_ENCRYPTION_ACTIVE_KEY and BLIND_INDEX_KEY must be set "
            "when BANKMALL_ENV=production"
        )
    path = Path(settings.KEYRING_PATH)
    if not path.exists():
        ring = KeyRing(
            keys={"k1": secrets.token_bytes(KEY_BYTES)},
            active_key_id="k1",
            blind_index_key=secrets.token_bytes(KEY_BYTES),
        )
        _write_ring_file(path, ring)
    return _ring_from_file(path)


def reload_key_ring() -> KeyRing:
    key_ring.cache_clear()
    return key_ring()


def add_generated_key() -> str:
    """Add a new random key to the data directory's ring and make it active; return its id.

    Production rings live in the environment: there the operator adds the key and sets
    ``FIELD_ENCRYPTION_ACTIVE_KEY`` before running the rotation.
    """
    if _uses_environment() or settings.IS_PRODUCTION:
        raise ImproperlyConfigured(
            "keys come from FIELD_ENCRYPTION_KEYS here: add the new key there and set "
            "FIELD_ENCRYPTION_ACTIVE_KEY, then run the rotation again"
        )
    ring = key_ring()
    number = 1 + max(int(key_id[1:]) for key_id in ring.keys if key_id[1:].isdigit())
    key_id = f"k{number}"
    updated = KeyRing(
        keys={**ring.keys, key_id: secrets.token_bytes(KEY_BYTES)},
        active_key_id=key_id,
        blind_index_key=ring.blind_index_key,
    )
    _write_ring_file(Path(settings.KEYRING_PATH), updated)
    reload_key_ring()
    return key_id


def encrypt(plaintext: str, *, context: str, ring: KeyRing | None = None) -> str:
    """Encrypt ``plaintext`` under the active key, bound to ``context`` (the column's name)."""
    ring = ring or key_ring()
    nonce = secrets.token_bytes(NONCE_BYTES)
    key_id = ring.active_key_id
    sealed = AESGCM(ring.keys[key_id]).encrypt(
        nonce, plaintext.encode("utf-8"), context.encode("utf-8")
    )
    return f"{VERSION}:{key_id}:{_b64encode(nonce + sealed)}"


def key_id_of(stored: str) -> str:
    """The id of the key that encrypted ``stored``."""
    parts = stored.split(":", 2)
    if len(parts) != 3 or parts[0] != VERSION:  # noqa: PLR2004
        raise DecryptionFailed("not an encrypted value")
    return parts[1]


def decrypt(stored: str, *, context: str, ring: KeyRing | None = None) -> str:
    """Decrypt a value written by ``encrypt`` with the same ``context``.

    Raises ``DecryptionFailed`` for a malformed value, an unknown key or a failed tag check.
    """
    ring = ring or key_ring()
    key_id = key_id_of(stored)
    key = ring.keys.get(key_id)
    if key is None:
        raise DecryptionFailed(f"no key {key_id!r} in the ring")
    try:
        blob = base64.urlsafe_b64decode(stored.split(":", 2)[2] + "==")
        plain = AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode("utf-8"))
    except (InvalidTag, binascii.Error, ValueError):
        raise DecryptionFailed("the value does not decrypt with its key") from None
    return plain.decode("utf-8")


def blind_index(value: str, *, context: str, ring: KeyRing | None = None) -> str:
    """Keyed hash of ``value`` for exact-match search within ``context``."""
    ring = ring or key_ring()
    message = f"{context}\x00{value}".encode()
    return hmac.new(ring.blind_index_key, message, hashlib.sha256).hexdigest()


def normalise_text(value: str) -> str:
    """Default blind-index normalisation: trimmed, case-folded."""
    return value.strip().casefold()


def normalise_digits(value: str) -> str:
    """Digits only (phone, card and ID numbers are compared without spaces or dashes)."""
    return "".join(character for character in value if character.isdigit() or character in "Xx")


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """A text column stored encrypted with AES-256-GCM; Python code sees the plaintext.

    Only exact ``isnull`` lookups make sense on it; search through a ``BlindIndexField``.
    """

    description = "Text encrypted with AES-256-GCM"

    def contribute_to_class(
        self, cls: type[models.Model], name: str, private_only: bool = False
    ) -> None:
        super().contribute_to_class(cls, name, private_only=private_only)
        self.encryption_context = f"{cls._meta.app_label}.{cls._meta.model_name}.{name}"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value, context=self.encryption_context)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value), context=self.encryption_context)


class BlindIndexField(models.CharField):  # type: ignore[type-arg]
    """A keyed hash of another field's plaintext, kept up to date on every save."""

    def __init__(
        self,
        *args: Any,
        source: str = "",
        normaliser: Callable[[str], str] = normalise_text,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("db_index", not kwargs.get("unique", False))
        kwargs.setdefault("editable", False)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        self.source = source
        self.normaliser = normaliser
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        return name, path, args, kwargs

    def contribute_to_class(
        self, cls: type[models.Model], name: str, private_only: bool = False
    ) -> None:
        super().contribute_to_class(cls, name, private_only=private_only)
        self.index_context = f"{cls._meta.app_label}.{cls._meta.model_name}.{self.source}"

    def hash_of(self, value: str) -> str:
        """The index value a search for ``value`` must match."""
        normalised = self.normaliser(value)
        return blind_index(normalised, context=self.index_context) if normalised else ""

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        plaintext = getattr(model_instance, self.source) or ""
        value = self.hash_of(plaintext)
        setattr(model_instance, self.attname, value)
        return value


def search_hash(model: type[models.Model], field_name: str, value: str) -> str:
    """The blind-index value to filter ``model.<field_name>`` by for an exact match."""
    field = model._meta.get_field(field_name)
    assert isinstance(field, BlindIndexField), f"{field_name} is not a blind index"
    return field.hash_of(value)
