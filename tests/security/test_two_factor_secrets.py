"""Authenticator secrets are encrypted at rest and backup codes stored only as keyed hashes."""

from __future__ import annotations

import datetime as dt
import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client
from django_otp.oath import totp

from bankmall.security.actions import _replace_backup_codes, set_up_totp_directly
from bankmall.security.crypto import key_id_of, key_ring
from bankmall.security.models import Authenticator, BackupCode, BackupCodeSet
from bankmall.security.rotation import rotate_keys
from tests.signed_in import PASSWORD, current_code, make_user

pytestmark = pytest.mark.django_db

KEY_HEX = "3132333435363738393031323334353637383930"  # b"12345678901234567890"


def _raw(sql: str) -> list[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def _sign_in(client: Client, username: str, code: str) -> int:
    client.post("/login/", {"username": username, "password": PASSWORD})
    return client.post("/login/verify/", {"code": code}).status_code


def test_the_authenticator_secret_column_holds_no_plaintext() -> None:
    user = make_user("li.lei")
    set_up_totp_directly(user, key_hex=KEY_HEX, actor="test")

    ((raw,),) = _raw("SELECT key FROM security_authenticator")

    assert isinstance(raw, str)
    assert raw.startswith("v1:")
    assert KEY_HEX not in raw
    assert KEY_HEX.upper() not in raw
    assert "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" not in raw  # The base32 form apps are given.
    assert Authenticator.objects.get().key == KEY_HEX


def test_backup_codes_are_stored_only_as_keyed_hashes() -> None:
    user = make_user("li.lei")

    codes = _replace_backup_codes(user)

    stored = [row[0] for row in _raw("SELECT code_hash FROM security_backupcode")]
    assert len(codes) == len(stored) == 10
    assert len(set(codes)) == 10
    assert not {code for code in codes if any(code in value for value in stored)}
    assert all(len(value) == 64 for value in stored)


def test_sign_in_works_with_the_encrypted_secret_and_with_a_backup_code() -> None:
    user = make_user("li.lei")
    code = _replace_backup_codes(user)[0]

    with_app = _sign_in(Client(), "li.lei", current_code(user))
    with_backup = _sign_in(Client(), "li.lei", code.upper())
    backup_again = _sign_in(Client(), "li.lei", code)

    assert with_app == 302
    assert with_backup == 302
    assert backup_again == 200
    assert BackupCode.objects.count() == 9


def test_key_rotation_re_encrypts_authenticator_secrets_and_sign_in_still_works() -> None:
    user = make_user("li.lei")
    before = _raw("SELECT key FROM security_authenticator")[0][0]

    report = rotate_keys(new_key=True, batch_size=1, progress=lambda done, total: None)

    ((after,),) = _raw("SELECT key FROM security_authenticator")
    assert isinstance(before, str)
    assert isinstance(after, str)
    assert key_id_of(after) == report.new_key_id == key_ring().active_key_id
    assert key_id_of(before) != report.new_key_id
    assert _sign_in(Client(), "li.lei", current_code(user)) == 302


def test_the_migration_moves_django_otp_rows_out_of_their_clear_text_tables() -> None:
    user = make_user("li.lei")
    Authenticator.objects.all().delete()
    migration = importlib.import_module("bankmall.security.migrations.0005_two_factor_devices")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE otp_totp_totpdevice (id integer PRIMARY KEY, user_id integer, "
            "name varchar(64), confirmed boolean, key varchar(80), step integer, t0 bigint, "
            "digits integer, tolerance integer, drift integer, last_t bigint, "
            "created_at timestamp NULL, last_used_at timestamp NULL)"
        )
        cursor.execute(
            "CREATE TABLE otp_static_staticdevice (id integer PRIMARY KEY, user_id integer, "
            "name varchar(64), confirmed boolean, created_at timestamp NULL, "
            "last_used_at timestamp NULL)"
        )
        cursor.execute(
            "CREATE TABLE otp_static_statictoken (id integer PRIMARY KEY, device_id integer, "
            "token varchar(16))"
        )
        cursor.execute(
            "INSERT INTO otp_totp_totpdevice VALUES "
            "(1, %s, 'phone', %s, %s, 30, 0, 6, 1, 0, -1, '2026-01-02 03:04:05', NULL)",
            [user.pk, True, KEY_HEX],
        )
        cursor.execute(
            "INSERT INTO otp_static_staticdevice VALUES (7, %s, 'backup', %s, NULL, NULL)",
            [user.pk, True],
        )
        cursor.execute("INSERT INTO otp_static_statictoken VALUES (1, 7, 'abcd2345')")

    migration.move_legacy_devices(apps, SimpleNamespace(connection=connection))

    device = Authenticator.objects.get(user=user)
    assert device.key == KEY_HEX
    assert device.name == "phone"
    assert device.created_at == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert _raw("SELECT COUNT(*) FROM otp_totp_totpdevice") == [(0,)]
    assert _raw("SELECT COUNT(*) FROM otp_static_statictoken") == [(0,)]
    assert BackupCodeSet.objects.get(user=user).codes.count() == 1
    assert _sign_in(Client(), "li.lei", f"{totp(device.bin_key):06d}") == 302
    assert _sign_in(Client(), "li.lei", "abcd2345") == 302
