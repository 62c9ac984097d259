"""Step-up: re-enter a one-time code before a risky action (a large transfer, a new payee …).

Other apps call ``require_step_up(request, purpose)`` at the start of a protected action's
view or API operation. It returns when this session (or API token) confirmed ``purpose`` in
the last ``STEP_UP_MINUTES``; otherwise it raises ``StepUpRequired`` carrying a challenge id.
The API answers that as 401 ``step_up_required`` (API.md); pages turn it into a redirect to
the confirmation page with ``step_up_redirect``. A confirmation on one device never unlocks
another: challenges are bound to the session or token that asked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Final

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django_otp import match_token

from bankmall.core.audit import record_audit
from bankmall.core.errors import NotFound
from bankmall.core.ids import require_id
from bankmall.security.errors import InvalidOneTimeCode, StepUpRequired
from bankmall.security.models import StepUpChallenge, User

_PURPOSE_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_.]{1,63}$")


def credential_of(request: HttpRequest) -> str:
    """A stable, non-secret name for the credential the request used."""
    token = getattr(request, "api_token", None)
    if token is not None:
        return f"token:{token.public_id}"
    session_key = request.session.session_key or ""
    return "session:" + hashlib.sha256(session_key.encode("utf-8")).hexdigest()[:40]


def _window_start() -> dt.datetime:
    return timezone.now() - dt.timedelta(minutes=settings.STEP_UP_MINUTES)


def has_step_up(user: User, *, credential: str, purpose: str) -> bool:
    return StepUpChallenge.objects.filter(
        user=user, credential=credential, purpose=purpose, confirmed_at__gte=_window_start()
    ).exists()


def require_step_up(request: HttpRequest, purpose: str) -> None:
    """Return if the caller confirmed ``purpose`` recently; else raise ``StepUpRequired``.

    ``purpose`` is a short dotted name (``banking.add_payee``). The raised problem carries
    ``challenge_id`` and ``purpose``.
    """
    assert _PURPOSE_PATTERN.match(purpose), f"bad step-up purpose {purpose!r}"
    user = getattr(request, "auth", None) or request.user
    assert isinstance(user, User), "require_step_up needs a signed-in user"
    credential = credential_of(request)
    if has_step_up(user, credential=credential, purpose=purpose):
        return
    challenge = StepUpChallenge.objects.create(
        user=user, credential=credential, purpose=purpose, created_at=timezone.now()
    )
    raise StepUpRequired(
        f"Confirm {purpose} with a one-time code",
        extra={"challenge_id": challenge.public_id, "purpose": purpose},
    )


def access_challenge(user: User, challenge_id: str, *, credential: str) -> StepUpChallenge:
    """The caller's own pending challenge; any other id answers ``not_found``."""
    require_id("stp", challenge_id)
    challenge = StepUpChallenge.objects.filter(
        public_id=challenge_id, user=user, credential=credential
    ).first()
    if challenge is None:
        raise NotFound("No such step-up challenge")
    return challenge


def confirm_step_up(user: User, challenge_id: str, *, credential: str, otp: str) -> StepUpChallenge:
    """Confirm a challenge with a one-time code (TOTP or a backup code).

    Effects: the challenge is confirmed now (an already confirmed one is left as it is);
    audit ``security.step_up_confirmed``. Errors: ``not_found`` (not the caller's challenge),
    ``invalid_otp`` (nothing changes).
    """
    challenge = access_challenge(user, challenge_id, credential=credential)
    if challenge.confirmed_at is not None:
        return challenge  # Confirming twice changes nothing (and never extends the window).
    if match_token(user, otp.strip()) is None:
        raise InvalidOneTimeCode()
    # After this point the operation must succeed.
    with transaction.atomic():
        challenge.confirmed_at = timezone.now()
        challenge.save(update_fields=["confirmed_at"])
        record_audit(
            "security.step_up_confirmed",
            target=user.public_id,
            details={"purpose": challenge.purpose, "challenge": challenge.public_id},
            actor=f"user:{user.pk}",
        )
    return challenge


def step_up_redirect(request: HttpRequest, error: StepUpRequired) -> HttpResponseRedirect:
    """Send a page request to the confirmation page, coming back to where it was."""
    url = reverse("security-step-up", args=[error.extra["challenge_id"]])
    return HttpResponseRedirect(f"{url}?{urlencode({'next': request.get_full_path()})}")
