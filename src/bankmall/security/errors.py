"""Problems raised by security actions."""

from __future__ import annotations

from bankmall.core.errors import (
    AuthenticationRequired,
    BankmallError,
    Conflict,
    InvalidInput,
    PermissionDenied,
)


class UsernameTaken(Conflict):
    """Another user already has this username (usernames are case-insensitive)."""

    code = "username_taken"
    title = "Username already taken"


class InvalidCredentials(AuthenticationRequired):
    """The username, password or one-time code is wrong, or the account cannot sign in.

    Deliberately one answer for every cause, so it never reveals whether a username exists.
    """

    code = "invalid_credentials"
    title = "Invalid credentials"


class OneTimeCodeRequired(AuthenticationRequired):
    """The username and password are right, but this user signs in with two factors: repeat
    the request with ``otp`` (the authenticator's current code or a backup code)."""

    code = "otp_required"
    title = "A one-time code is required"


class SignInLocked(BankmallError):
    """Too many failed sign-ins for this username from this address; try again later."""

    code = "sign_in_locked"
    status = 429
    title = "Too many failed sign-ins"


class StepUpRequired(AuthenticationRequired):
    """The action needs a fresh one-time code: confirm the challenge (``challenge_id``) at
    ``POST /api/v1/auth/step-up`` and repeat the request."""

    code = "step_up_required"
    title = "Confirm with a one-time code"


class InvalidOneTimeCode(InvalidInput):
    """The one-time code is wrong or was already used."""

    code = "invalid_otp"
    title = "The one-time code is not valid"


class LastAuthenticator(Conflict):
    """This is the user's only authenticator: set up its replacement instead of removing it
    (two-factor sign-in is never switched off from the security pages)."""

    code = "last_authenticator"
    title = "Your only authenticator cannot be removed"


class SelfApprovalForbidden(PermissionDenied):
    """The maker of a request can never approve or reject it themselves."""

    code = "self_approval_forbidden"
    title = "You cannot decide your own request"


class ApprovalAlreadyDecided(Conflict):
    """The approval request was already approved, rejected or withdrawn."""

    code = "approval_already_decided"
    title = "The request was already decided"


class UnknownRole(InvalidInput):
    """No staff role has this name."""

    code = "unknown_role"
    title = "Unknown staff role"
