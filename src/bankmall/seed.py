"""The demo bank: realistic seed data for ``make demo``, grown by each capability.

Demo passwords are random per data directory and kept in ``<data dir>/demo-logins.json``
(owner-only permissions), never in the repository. Seeding refuses to run in production.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import string
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from django.conf import settings
from django.db import transaction

from bankmall.banking.demo import seed_bank
from bankmall.core.audit import record_audit
from bankmall.core.errors import SeedRefused
from bankmall.core.models import AuditRecord
from bankmall.security.actions import create_principal, create_staff, set_up_totp_directly
from bankmall.security.models import User

Progress = Callable[[str, int, int], None]
SEEDED_ACTION: Final = "demo.seeded"
_PASSWORD_ALPHABET: Final = string.ascii_letters + string.digits
_PASSWORD_LENGTH: Final = 16

# One demo staff member per role (roles.ROLES); each gets an authenticator secret printed by
# `make demo` (demo data only) so the two-factor sign-in can be tried.
DEMO_STAFF: Final = [
    ("administrator", "admin"),
    ("teller", "teller"),
    ("kyc_reviewer", "kyc"),
    ("risk_analyst", "risk"),
    ("settlement_officer", "settlement"),
    ("dispute_arbitrator", "disputes"),
    ("marketing_manager", "marketing"),
    ("auditor", "auditor"),
]


# Retail customers of the demo bank who can sign in (with an authenticator, like staff).
DEMO_CUSTOMERS: Final = ("wang.wei", "li.na")


@dataclass(frozen=True, slots=True)
class DemoLogin:
    role: str
    username: str
    password: str
    totp_secret: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return asdict(self)


def _logins_path() -> Path:
    return Path(settings.DATA_DIR) / "demo-logins.json"


def read_demo_logins() -> list[DemoLogin]:
    """The logins written by the last seed, or an empty list before the first one."""
    path = _logins_path()
    if not path.exists():
        return []
    return [DemoLogin(**row) for row in json.loads(path.read_text(encoding="utf-8"))]


def _write_demo_logins(logins: list[DemoLogin]) -> None:
    path = _logins_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump([login.as_json() for login in logins], handle, ensure_ascii=False, indent=2)
    temporary.replace(path)


def _new_password() -> str:
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(_PASSWORD_LENGTH))


def is_seeded() -> bool:
    return AuditRecord.objects.filter(action=SEEDED_ACTION).exists()


def new_totp_key() -> tuple[str, str]:
    """A random authenticator key as (hex for the device, base32 for people and apps)."""
    key = secrets.token_bytes(20)
    return key.hex(), base64.b32encode(key).decode("ascii")


def _seed_logins(
    entries: list[tuple[str, str]],
    create: Callable[[str, str, str, str], User],
    *,
    step: str,
    progress: Progress,
) -> list[DemoLogin]:
    """Create each (role, username) login once, with a password and an authenticator."""
    known = {login.username: login for login in read_demo_logins()}
    logins = []
    for index, (role, username) in enumerate(entries, start=1):
        if username in known and User.objects.filter(username=username).exists():
            logins.append(known[username])
        else:
            password = _new_password()
            user = create(role, username, f"{username}@demo.bankmall.invalid", password)
            key_hex, secret = new_totp_key()
            set_up_totp_directly(user, key_hex=key_hex, actor="seed")
            logins.append(
                DemoLogin(role=role, username=username, password=password, totp_secret=secret)
            )
        progress(step, index, len(entries))
    return logins


def _seed_staff(progress: Progress) -> list[DemoLogin]:
    def create(role: str, username: str, email: str, password: str) -> User:
        return create_staff(
            username=username,
            email=email,
            password=password,
            is_administrator=role == "administrator",
            roles=(role,),
            actor="seed",
        )

    return _seed_logins(DEMO_STAFF, create, step="staff logins", progress=progress)


# Net bank customers and a merchant user with authenticator secrets (the banking demo links
# customer logins to its first customers).
DEMO_PRINCIPALS: Final = [
    *(("customer", username) for username in DEMO_CUSTOMERS),
    ("merchant", "shop.owner"),
]


def _seed_principals(progress: Progress) -> list[DemoLogin]:
    def create(kind: str, username: str, email: str, password: str) -> User:
        return create_principal(
            username=username, email=email, password=password, kind=kind, actor="seed"
        )

    return _seed_logins(DEMO_PRINCIPALS, create, step="customer logins", progress=progress)


def seed_demo(*, force: bool, progress: Progress, customers: int = 200, months: int = 4) -> str:
    """Create the demo bank and return a one-line summary.

    Runs once per database unless ``force``; every step skips what already exists, so a
    forced re-run adds nothing twice. Errors: ``seed_refused`` in production.
    """
    if settings.IS_PRODUCTION:
        raise SeedRefused("Refusing to seed demo data with BANKMALL_ENV=production")
    if is_seeded() and not force:
        return "demo bank already seeded; nothing to do (use --force to re-run every step)"
    logins = _seed_staff(progress)
    logins += _seed_principals(progress)
    _write_demo_logins(logins)
    bank = seed_bank(customers=customers, months=months, progress=progress)
    with transaction.atomic():
        record_audit(SEEDED_ACTION, actor="seed", details={"logins": len(logins)})
    return f"demo bank seeded: {len(logins)} logins; {bank}"
