"""State changes of identities. Each action is atomic and audited."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from bankmall.core.audit import record_audit
from bankmall.core.errors import FieldError, InvalidInput
from bankmall.core.outbox import record_event
from bankmall.security.errors import UsernameTaken
from bankmall.security.models import User, UserKind

USERNAME_LENGTH_MIN = 3
USERNAME_LENGTH_MAX = 150


def create_staff(
    *, username: str, email: str, password: str, is_administrator: bool, actor: str
) -> User:
    """Create a member of bank staff who can sign in to the back office.

    Preconditions: ``username`` is 3-150 characters and unused (case-insensitively);
    ``password`` passes the password validators. Effects: one user, one audit record
    (``security.staff_created``), one ``staff.created`` event. Errors: ``validation_error``
    with field messages, ``username_taken``.
    """
    username = username.strip()
    problems = []
    if not USERNAME_LENGTH_MIN <= len(username) <= USERNAME_LENGTH_MAX:
        problems.append(FieldError("username", "must be 3 to 150 characters"))
    try:
        validate_password(password, User(username=username, email=email))
    except ValidationError as error:
        problems.extend(FieldError("password", message) for message in error.messages)
    if problems:
        raise InvalidInput("; ".join(f"{p.field} {p.message}" for p in problems), errors=problems)
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise UsernameTaken(f"The username {username!r} is already taken")
        # After this point the operation must succeed.
        user = User.objects.create_user(
            username=username,
            email=email,
            password=password,
            kind=UserKind.STAFF,
            is_staff=True,
            is_superuser=is_administrator,
        )
        state = {"username": username, "kind": user.kind, "administrator": is_administrator}
        record_audit("security.staff_created", target=user.public_id, after=state, actor=actor)
        record_event("staff.created", aggregate_id=user.public_id, payload={"user": user.public_id})
    return user
