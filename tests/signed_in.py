"""Test helpers: users of each kind, signed in with every factor their kind needs.

``sign_in(client, user)`` is what a real sign-in leaves behind (a session whose user passed
the one-time code); tests of pages other than the sign-in itself use it instead of driving the
login forms.
"""

from __future__ import annotations

import secrets

from django.contrib.auth.models import Group
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp

from bankmall.security.models import Authenticator, User, UserKind

PASSWORD = "correct horse battery staple 42"


def make_user(username: str, *, kind: str = UserKind.CUSTOMER, roles: tuple[str, ...] = ()) -> User:
    """A user of ``kind`` with a confirmed authenticator (and, for staff, ``roles``)."""
    user = User.objects.create_user(
        username=username,
        password=PASSWORD,
        email=f"{username}@example.com",
        kind=kind,
        is_staff=kind == UserKind.STAFF,
    )
    if roles:
        user.groups.set(Group.objects.filter(name__in=roles))
    Authenticator.objects.create(
        user=user, name="authenticator", key=secrets.token_hex(20), confirmed=True
    )
    return user


def authenticator(user: User) -> Authenticator:
    return Authenticator.objects.get(user=user, confirmed=True)


def allow_code_reuse(user: User) -> None:
    """Forget the last accepted time step, so the current code can be entered again."""
    Authenticator.objects.filter(user=user).update(last_t=-1)


def current_code(user: User, *, offset_steps: int = 0) -> str:
    """The authenticator code for now (or ``offset_steps`` steps away)."""
    device = authenticator(user)
    return f"{totp(device.bin_key, step=device.step, drift=offset_steps):06d}"


def sign_in(client: Client, user: User) -> Client:
    """Sign ``client`` in as ``user`` with the second factor verified."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = authenticator(user).persistent_id
    session.save()
    return client
