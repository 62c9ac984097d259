"""Error pages for answers Django gives without a body."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse

from bankmall.web.views import method_not_allowed_page


class MethodNotAllowedPageMiddleware:
    """Give an empty 405 page answer (``require_POST`` and friends) a small translated page.

    Under ``/api/`` the core ``ApiProblemMiddleware`` answers problem+json instead.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
            and not request.path.startswith("/api/")
            and not response.content
        ):
            return method_not_allowed_page(request, response.get("Allow", ""))
        return response
