"""Problems raised by security actions."""

from __future__ import annotations

from bankmall.core.errors import Conflict


class UsernameTaken(Conflict):
    """Another user already has this username (usernames are case-insensitive)."""

    code = "username_taken"
    title = "Username already taken"
