"""Domain errors that map one-to-one to RFC 9457 problem details.

Every expected failure is a subclass of ``BankmallError`` with a stable ``code`` (documented at
``/problems/`` and in the OpenAPI document), an HTTP ``status`` and a short ``title``. The API
turns them into ``application/problem+json``; pages turn them into form messages; the command
line prints ``detail`` on one line and exits non-zero.

Subclasses register themselves, so the list of codes cannot drift from the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from django.utils.translation import gettext


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input field: a dotted path (``amount.currency``) and a message."""

    field: str
    message: str


class BankmallError(Exception):
    """Base of every expected failure. Subclasses set ``code``, ``status`` and ``title``."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Request failed"

    registry: ClassVar[dict[str, type[BankmallError]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        existing = BankmallError.registry.get(cls.code)
        # A second class may reuse a code only if it is a subclass of the first (a narrower
        # cause of the same problem); two unrelated meanings for one code is a bug.
        if existing is not None and not issubclass(cls, existing):
            raise TypeError(f"problem code {cls.code!r} is already used by {existing.__name__}")
        BankmallError.registry.setdefault(cls.code, cls)

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.errors = list(errors or [])
        self.extra = dict(extra or {})
        super().__init__(self.detail)

    @property
    def slug(self) -> str:
        return problem_slug(self.code)

    def for_people(self) -> str:
        """The message a page shows: the specific ``detail`` on an English page or when the
        action already wrote it for people (not plain ASCII: translated); otherwise the
        problem's translated title (most details are English, for the API and logs)."""
        translated = gettext(self.title)
        if translated == self.title or not self.detail.isascii():
            return self.detail
        return translated


def problem_slug(code: str) -> str:
    """The URL form of a problem code: ``insufficient_funds`` → ``insufficient-funds``."""
    return code.replace("_", "-")


class NotFound(BankmallError):
    """The object does not exist, or the caller may not know that it exists."""

    code = "not_found"
    status = 404
    title = "Not found"


class InvalidInput(BankmallError):
    code = "validation_error"
    status = 422
    title = "The request is not valid"


class Conflict(BankmallError):
    code = "conflict"
    status = 409
    title = "The request conflicts with the current state"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was used with a different request"


class AuthenticationRequired(BankmallError):
    code = "authentication_required"
    status = 401
    title = "Authentication required"


class PermissionDenied(BankmallError):
    code = "permission_denied"
    status = 403
    title = "Not allowed"


class RateLimited(BankmallError):
    code = "rate_limited"
    status = 429
    title = "Too many requests"


class MethodNotAllowed(BankmallError):
    code = "method_not_allowed"
    status = 405
    title = "Method not allowed"


class MalformedRequest(BankmallError):
    code = "malformed_request"
    status = 400
    title = "The request body could not be read"


class InternalError(BankmallError):
    """A bug, never an expected failure: reported as 500 without internal details."""

    code = "internal_error"
    status = 500
    title = "Internal error"


class EndOfDayFailed(BankmallError):
    """A step of the end of day failed; the steps before it are done, rerunning resumes."""

    code = "end_of_day_failed"
    status = 409
    title = "End of day stopped at a failed step"


class SeedRefused(Conflict):
    """The demo bank is never seeded into a production deployment."""

    code = "seed_refused"
    title = "Demo data cannot be seeded here"
