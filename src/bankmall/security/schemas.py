"""API schemas for authentication (API.md fixes the token endpoint's shape)."""

from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import ConfigDict, Field

from bankmall.core.text import SecretText, SingleLineText


class TokenRequest(Schema):
    model_config = ConfigDict(extra="forbid")

    # No control characters (a NUL cannot even be stored by PostgreSQL): such a username is
    # refused with 422 before the sign-in lock is looked up.
    username: SingleLineText = Field(min_length=1, max_length=150)
    password: SecretText = Field(min_length=1, max_length=4096)
    otp: SingleLineText | None = Field(
        None, max_length=16, description="The authenticator code (or a backup code)."
    )


class TokenResponse(Schema):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105  (the scheme name, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshRequest(Schema):
    model_config = ConfigDict(extra="forbid")

    refresh_token: SingleLineText = Field(min_length=1, max_length=200)


class RevokeRequest(Schema):
    model_config = ConfigDict(extra="forbid")

    token: SingleLineText = Field(
        min_length=1, max_length=200, description="An access or refresh token."
    )


class StepUpRequest(Schema):
    model_config = ConfigDict(extra="forbid")

    challenge_id: SingleLineText = Field(min_length=1, max_length=64)
    otp: SingleLineText = Field(min_length=1, max_length=16)


class StepUpResponse(Schema):
    challenge_id: str
    purpose: str
    confirmed_until: dt.datetime


class PrincipalSchema(Schema):
    id: str
    username: str
    kind: str
