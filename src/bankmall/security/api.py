"""Authentication in the HTTP API: bearer tokens (API.md), step-up confirmation, the caller."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Router

from bankmall.core.problems import problem_response
from bankmall.core.schemas import ProblemSchema
from bankmall.security.access import acting_user, api_auth, principal_operation
from bankmall.security.actions import check_one_time_code, check_password, needs_second_factor
from bankmall.security.errors import InvalidCredentials, OneTimeCodeRequired, SignInLocked
from bankmall.security.schemas import (
    PrincipalSchema,
    RefreshRequest,
    RevokeRequest,
    StepUpRequest,
    StepUpResponse,
    TokenRequest,
    TokenResponse,
)
from bankmall.security.stepup import confirm_step_up, credential_of
from bankmall.security.tokens import IssuedTokens, issue_tokens, refresh_tokens, revoke_token

router = Router(tags=["authentication"])


def _token_response(issued: IssuedTokens) -> TokenResponse:
    return TokenResponse(
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
    )


@router.post(
    "/auth/token",
    response={
        200: TokenResponse,
        400: ProblemSchema,
        401: ProblemSchema,
        422: ProblemSchema,
        429: ProblemSchema,
    },
)
def create_token(request: HttpRequest, body: TokenRequest) -> TokenResponse | HttpResponse:
    """Sign in with username, password and (when the user has two factors) ``otp``.

    A wrong username, password or code answers the same 401 ``invalid_credentials``, so the
    answer never reveals whether a username exists. The right password without ``otp`` for a
    user with two factors answers 401 ``otp_required`` (repeat with the code). Repeated
    failures lock the username for this address (429 ``sign_in_locked`` with ``Retry-After``).
    """
    try:
        user = check_password(request, body.username, body.password)
        verified = False
        if needs_second_factor(user):
            if not (body.otp or "").strip():
                raise OneTimeCodeRequired()
            check_one_time_code(request, user, body.otp or "")
            verified = True
        elif body.otp:
            raise InvalidCredentials()
    except SignInLocked as error:
        retry_after = str(int(settings.AXES_COOLOFF_TIME * 3600))
        return problem_response(request, error, headers={"Retry-After": retry_after})
    return _token_response(issue_tokens(user, is_verified=verified))


@router.post(
    "/auth/refresh",
    response={200: TokenResponse, 400: ProblemSchema, 401: ProblemSchema, 422: ProblemSchema},
)
def refresh_token(request: HttpRequest, body: RefreshRequest) -> TokenResponse:
    """Swap a refresh token (usable once) for a new token pair."""
    return _token_response(refresh_tokens(body.refresh_token))


@router.post("/auth/revoke", response={204: None, 400: ProblemSchema, 422: ProblemSchema})
def revoke(request: HttpRequest, body: RevokeRequest) -> HttpResponse:
    """Revoke the pair an access or refresh token belongs to (204 whether or not it existed)."""
    revoke_token(body.token)
    return HttpResponse(status=204)


@router.post(
    "/auth/step-up",
    auth=api_auth,
    response={
        200: StepUpResponse,
        400: ProblemSchema,
        401: ProblemSchema,
        403: ProblemSchema,
        404: ProblemSchema,
        422: ProblemSchema,
    },
)
@principal_operation()
def confirm_step_up_challenge(request: HttpRequest, body: StepUpRequest) -> StepUpResponse:
    """Confirm a ``step_up_required`` challenge with a one-time code, then repeat the request."""
    challenge = confirm_step_up(
        acting_user(request), body.challenge_id, credential=credential_of(request), otp=body.otp
    )
    assert challenge.confirmed_at is not None
    return StepUpResponse(
        challenge_id=challenge.public_id,
        purpose=challenge.purpose,
        confirmed_until=challenge.confirmed_at + dt.timedelta(minutes=settings.STEP_UP_MINUTES),
    )


@router.get(
    "/me", auth=api_auth, response={200: PrincipalSchema, 401: ProblemSchema, 403: ProblemSchema}
)
@principal_operation()
def who_am_i(request: HttpRequest) -> PrincipalSchema:
    """The signed-in caller."""
    user = acting_user(request)
    return PrincipalSchema(id=user.public_id, username=user.username, kind=user.kind)
