"""Shared pages: the home page, the problem-code reference, and the error pages."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.module_loading import autodiscover_modules
from django.views.decorators.http import require_GET

from bankmall.core import errors
from bankmall.core.problems import problem_response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    # Resolved per request: in production the hashed name exists only after collectstatic.
    return HttpResponsePermanentRedirect(static("web/favicon.svg"))


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html")


@dataclass(frozen=True, slots=True)
class ProblemEntry:
    code: str
    slug: str
    status: int
    title: str
    meaning: str


def _problem_entries() -> list[ProblemEntry]:
    # Every app keeps its problem classes in errors.py; importing them fills the registry.
    autodiscover_modules("errors")
    import bankmall.core.money  # noqa: F401, PLC0415  (money's problems live beside Money)

    return [
        ProblemEntry(
            code=cls.code,
            slug=errors.problem_slug(cls.code),
            status=cls.status,
            title=cls.title,
            meaning=" ".join((cls.__doc__ or "").split()),
        )
        for cls in sorted(errors.BankmallError.registry.values(), key=lambda cls: cls.code)
    ]


@require_GET
def problem_index(request: HttpRequest) -> HttpResponse:
    return render(request, "web/problems.html", {"problems": _problem_entries()})


@require_GET
def problem_detail(request: HttpRequest, slug: str) -> HttpResponse:
    for problem in _problem_entries():
        if problem.slug == slug:
            return render(request, "web/problem.html", {"problem": problem})
    raise Http404(slug)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return problem_response(request, errors.MalformedRequest())
    return render(request, "web/error.html", {"status": 400}, status=400)


def forbidden(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return problem_response(request, errors.PermissionDenied())
    return render(request, "web/error.html", {"status": 403}, status=403)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return problem_response(request, errors.NotFound())
    return render(request, "web/error.html", {"status": 404}, status=404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form posted without a valid CSRF token: usually a page left open past the session.

    The page says what to do (reload, sign in again); the API gets a problem.
    """
    if _is_api(request):
        return problem_response(
            request, errors.PermissionDenied("The CSRF check failed: send the CSRF token")
        )
    return render(request, "web/error.html", {"status": 403, "csrf": True}, status=403)


def method_not_allowed_page(request: HttpRequest, allowed: str) -> HttpResponse:
    """The small page for a 405 (e.g. opening a form's address directly)."""
    response = render(request, "web/error.html", {"status": 405}, status=405)
    response["Allow"] = allowed
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        # Django has already logged the exception; answer without internal details.
        return problem_response(request, errors.InternalError())
    return render(request, "web/error.html", {"status": 500}, status=500)
