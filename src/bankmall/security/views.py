"""Sign-in pages (password, one-time code, enrolment), password reset, sessions, step-up.

A password alone never signs anyone in when their kind needs two factors: the password step
keeps a short-lived "pending" marker in the session, and only the one-time-code step (or the
first enrolment) calls ``complete_sign_in``. Every error on these pages is the same generic
message, so they never reveal whether a username exists.
"""

from __future__ import annotations

import base64
import json
import math
import time
from typing import Any, Final

import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from qrcode.main import make as make_qr_code

from bankmall.core.errors import BankmallError, Conflict, NotFound
from bankmall.core.problems import problem_response
from bankmall.core.text import SingleLineField
from bankmall.security.access import (
    is_fully_signed_in,
    may_use_staff_permission,
    principal_view,
    public_view,
)
from bankmall.security.actions import (
    access_authenticator,
    check_one_time_code,
    check_password,
    complete_sign_in,
    confirm_additional_authenticator,
    confirm_totp_enrolment,
    needs_second_factor,
    regenerate_backup_codes,
    remove_authenticator,
    reset_password,
    sign_out,
    sign_out_everywhere,
    start_additional_authenticator,
    start_totp_enrolment,
)
from bankmall.security.errors import InvalidOneTimeCode, SignInLocked, StepUpRequired
from bankmall.security.middleware import TIMED_OUT_SESSION_KEY, idle_seconds_left
from bankmall.security.models import (
    Authenticator,
    Consent,
    LoginEvent,
    User,
    UserKind,
    UserSession,
)
from bankmall.security.privacy import export_subject_data, grant_consent, withdraw_consent
from bankmall.security.queries import live_api_tokens, two_factor_overview
from bankmall.security.stepup import (
    access_challenge,
    confirm_step_up,
    credential_of,
    require_step_up,
    step_up_redirect,
)
from bankmall.security.tokens import TOKEN_KINDS

PENDING_USER_KEY: Final = "security.pending_user"
PENDING_AT_KEY: Final = "security.pending_at"
PENDING_NEXT_KEY: Final = "security.pending_next"
BACKUP_CODES_KEY: Final = "security.new_backup_codes"
PENDING_SECONDS: Final = 300
RECENT_LOGINS: Final = 20
GENERIC_ERROR: Final = gettext_lazy("The username, password or code is not correct.")
# Once the user is signed in, only the code can be wrong: say so.
WRONG_CODE: Final = gettext_lazy("That code is not correct. Check the app and try again.")


class LoginForm(forms.Form):
    username = SingleLineField(label=gettext_lazy("Username"), max_length=150)
    password = forms.CharField(
        label=gettext_lazy("Password"), strip=False, widget=forms.PasswordInput
    )


class CodeForm(forms.Form):
    code = SingleLineField(
        label=gettext_lazy("One-time code"),
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def _safe_next(request: HttpRequest, candidate: str | None) -> str | None:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return None


def _landing_page(user: User, next_url: str | None) -> str:
    if next_url:
        return next_url
    if user.kind == UserKind.STAFF:
        return reverse("backoffice-dashboard")
    if user.kind == UserKind.MERCHANT:
        # The merchant console comes with the mall; until then their own security page.
        return reverse("security-hub")
    return str(settings.LOGIN_REDIRECT_URL)


def _pending_user(request: HttpRequest) -> User | None:
    user_pk = request.session.get(PENDING_USER_KEY)
    started = request.session.get(PENDING_AT_KEY, 0)
    if user_pk is None or time.time() - float(started) > PENDING_SECONDS:
        return None
    return User.objects.filter(pk=user_pk, is_active=True).first()


def _clear_pending(request: HttpRequest) -> str | None:
    request.session.pop(PENDING_USER_KEY, None)
    request.session.pop(PENDING_AT_KEY, None)
    next_url: str | None = request.session.pop(PENDING_NEXT_KEY, None)
    return next_url


def _finish(request: HttpRequest, user: User, device: Any) -> HttpResponse:
    next_url = _clear_pending(request)
    complete_sign_in(request, user, device)
    return HttpResponseRedirect(_landing_page(user, next_url))


@public_view
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
@never_cache
def login_page(request: HttpRequest) -> HttpResponse:
    """Step 1: username and password."""
    form = LoginForm(request.POST or None)
    timed_out = request.session.pop(TIMED_OUT_SESSION_KEY, False)
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"]
        try:
            user = check_password(request, username, form.cleaned_data["password"])
        except SignInLocked:
            return locked_out(request)
        except BankmallError:
            form.add_error(None, GENERIC_ERROR)
        else:
            next_url = _safe_next(request, request.GET.get("next"))
            if not needs_second_factor(user):
                return _finish(request, user, None)
            request.session.cycle_key()
            request.session[PENDING_USER_KEY] = user.pk
            request.session[PENDING_AT_KEY] = time.time()
            request.session[PENDING_NEXT_KEY] = next_url
            has_device = Authenticator.objects.filter(user=user, confirmed=True).exists()
            return redirect("security-login-verify" if has_device else "security-login-enrol")
    context = {"form": form, "timed_out": timed_out, "next": request.GET.get("next", "")}
    return render(request, "security/login.html", context)


@public_view
@require_http_methods(["GET", "POST"])
@never_cache
def verify_page(request: HttpRequest) -> HttpResponse:
    """Step 2: the authenticator's code or a backup code."""
    user = _pending_user(request)
    if user is None:
        return redirect("security-login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = check_one_time_code(request, user, form.cleaned_data["code"])
        except SignInLocked:
            return locked_out(request)
        except BankmallError:
            form.add_error(None, GENERIC_ERROR)
        else:
            return _finish(request, user, device)
    return render(request, "security/verify.html", {"form": form})


def qr_code_svg(data: str) -> SafeString:
    """An inline SVG QR code (no script, no external image, allowed by the CSP)."""
    image = make_qr_code(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    svg: str = image.to_string(encoding="unicode")
    # The SVG is generated here from our own data; nothing in it comes from the user as markup.
    return mark_safe(svg)  # noqa: S308


def _secret_groups(key_b32: str) -> str:
    return " ".join(key_b32[index : index + 4] for index in range(0, len(key_b32), 4))


@public_view
@require_http_methods(["GET", "POST"])
@never_cache
def enrol_page(request: HttpRequest) -> HttpResponse:
    """First sign-in of a user who must use two factors: set up an authenticator app."""
    user = _pending_user(request)
    if user is None:
        return redirect("security-login")
    try:
        device = start_totp_enrolment(user)
    except Conflict:
        return redirect("security-login-verify")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            confirmed, codes = confirm_totp_enrolment(user, form.cleaned_data["code"])
        except InvalidOneTimeCode:
            form.add_error("code", WRONG_CODE)
        else:
            response = _finish(request, user, confirmed)
            request.session[BACKUP_CODES_KEY] = codes
            query = urlencode({"next": response["Location"]})
            return HttpResponseRedirect(f"{reverse('security-backup-codes')}?{query}")
    secret = base64.b32encode(device.bin_key).decode("ascii")
    context = {
        "form": form,
        "qr_code": qr_code_svg(device.config_url),
        "secret": _secret_groups(secret),
    }
    return render(request, "security/enrol.html", context)


@principal_view()
@require_GET
@never_cache
def backup_codes_page(request: HttpRequest) -> HttpResponse:
    """Shows newly made backup codes once; reloading shows nothing."""
    codes = request.session.pop(BACKUP_CODES_KEY, [])
    next_url = _safe_next(request, request.GET.get("next")) or str(settings.LOGIN_REDIRECT_URL)
    return render(request, "security/backup_codes.html", {"codes": codes, "next": next_url})


@require_POST
def logout_page(request: HttpRequest) -> HttpResponse:
    """Sign out this browser (POST with CSRF; a link cannot sign anyone out)."""
    sign_out(request)
    return redirect("security-login")


logout_page.access_rule = "public"  # type: ignore[attr-defined]


def locked_out(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' lockout answer: problem+json for the API, the sign-in page otherwise."""
    if request.path.startswith("/api/"):
        retry_after = str(int(settings.AXES_COOLOFF_TIME * 3600))
        return problem_response(request, SignInLocked(), headers={"Retry-After": retry_after})
    context = {"form": LoginForm(), "next": "", "locked": True}
    return render(request, "security/login.html", context, status=429)


# ------------------------------------------------------------------ sessions


@principal_view()
@require_GET
def sessions_page(request: HttpRequest) -> HttpResponse:
    """The user's active sessions and recent sign-ins, with "sign out everywhere"."""
    user: User = request.user  # type: ignore[assignment]
    sessions = UserSession.objects.filter(user=user, ended_at__isnull=True).order_by("-created_at")
    logins = LoginEvent.objects.filter(user=user).order_by("-occurred_at")[:RECENT_LOGINS]
    context = {
        "sessions": sessions,
        "logins": logins,
        "current_key": request.session.session_key,
    }
    return render(request, "security/sessions.html", context)


@principal_view()
@require_POST
def sign_out_everywhere_page(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    sign_out_everywhere(user, actor=f"user:{user.pk}")
    # This browser's session row is gone too: start a fresh, empty one instead of saving into
    # the deleted one (Django would answer 400 "session interrupted").
    request.session.flush()
    messages.success(request, _("You are signed out on every device."))
    return redirect("security-login")


# ------------------------------------------------------------------ step-up


@principal_view()
@require_http_methods(["GET", "POST"])
@never_cache
def step_up_page(request: HttpRequest, challenge_id: str) -> HttpResponse:
    """Re-enter a one-time code to confirm a protected action, then go back to it."""
    user: User = request.user  # type: ignore[assignment]
    credential = credential_of(request)
    try:
        challenge = access_challenge(user, challenge_id, credential=credential)
    except NotFound:
        raise Http404(challenge_id) from None
    form = CodeForm(request.POST or None)
    next_url = _safe_next(request, request.GET.get("next")) or str(settings.LOGIN_REDIRECT_URL)
    if request.method == "POST" and form.is_valid():
        try:
            confirm_step_up(
                user, challenge_id, credential=credential, otp=form.cleaned_data["code"]
            )
        except InvalidOneTimeCode:
            form.add_error("code", WRONG_CODE)
        else:
            messages.success(request, _("Confirmed. You can continue."))
            return HttpResponseRedirect(next_url)
    cancel_url = _safe_next(request, request.GET.get("cancel")) or next_url
    context = {"form": form, "challenge": challenge, "next": next_url, "cancel": cancel_url}
    return render(request, "security/step_up.html", context)


# ------------------------------------------------------------------ password reset


class ResetPasswordForm(SetPasswordForm):  # type: ignore[type-arg]
    """Django's form, saving through the audited action (which also signs out everywhere)."""

    def save(self, commit: bool = True) -> Any:
        password = self.cleaned_data["new_password1"]
        reset_password(self.user, password=password, actor=f"user:{self.user.pk}")
        return self.user


RESET_VIEWS: Final = {
    "request": auth_views.PasswordResetView.as_view(
        template_name="security/password_reset.html",
        email_template_name="security/password_reset_email.txt",
        subject_template_name="security/password_reset_subject.txt",
        form_class=PasswordResetForm,
        success_url=reverse_lazy("security-password-reset-sent"),
    ),
    "sent": auth_views.PasswordResetDoneView.as_view(
        template_name="security/password_reset_sent.html"
    ),
    "confirm": auth_views.PasswordResetConfirmView.as_view(
        template_name="security/password_reset_confirm.html",
        form_class=ResetPasswordForm,
        success_url=reverse_lazy("security-password-reset-complete"),
    ),
    "complete": auth_views.PasswordResetCompleteView.as_view(
        template_name="security/password_reset_complete.html"
    ),
}
for _view in RESET_VIEWS.values():
    _view.access_rule = "public"  # type: ignore[attr-defined]


# ------------------------------------------------------------------ Django admin


@require_GET
def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's own login form is replaced by the two-factor sign-in."""
    next_url = _safe_next(request, request.GET.get("next")) or reverse("admin:index")
    return HttpResponseRedirect(f"{reverse('security-login')}?{urlencode({'next': next_url})}")


admin_login.access_rule = "public"  # type: ignore[attr-defined]


def admin_has_permission(request: HttpRequest) -> bool:
    """The admin site admits verified staff with back-office access (model permissions apply)."""
    return is_fully_signed_in(request.user) and may_use_staff_permission(
        request.user,  # type: ignore[arg-type]
        "security.access_backoffice",
    )


# ------------------------------------------------------------------ privacy


class ConsentForm(forms.Form):
    purpose = forms.ChoiceField(label=gettext_lazy("Purpose"), choices=Consent.Purpose.choices)
    partner = SingleLineField(
        label=gettext_lazy("Partner (for data sharing)"), max_length=120, required=False
    )


@principal_view()
@require_GET
def privacy_page(request: HttpRequest) -> HttpResponse:
    """The user's consents (with withdrawal) and the download of everything held about them."""
    user: User = request.user  # type: ignore[assignment]
    consents = Consent.objects.filter(user=user).order_by("-granted_at")
    context = {
        "consents": consents,
        "form": ConsentForm(),
        "retention_days": settings.PRIVACY_RETENTION_DAYS,
    }
    return render(request, "security/privacy.html", context)


@principal_view()
@require_POST
def grant_consent_page(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = ConsentForm(request.POST)
    if form.is_valid():
        try:
            grant_consent(user, **form.cleaned_data)
        except BankmallError as error:
            messages.error(request, error.detail)
        else:
            messages.success(request, _("Consent recorded."))
    return redirect("security-privacy")


@principal_view()
@require_POST
def withdraw_consent_page(request: HttpRequest, consent_id: str) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    try:
        withdraw_consent(user, consent_id)
    except NotFound:
        raise Http404(consent_id) from None
    except BankmallError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("Consent withdrawn."))
    return redirect("security-privacy")


@principal_view()
@require_GET
def privacy_export(request: HttpRequest) -> HttpResponse:
    """Everything held about the user as a JSON file; needs a fresh one-time code."""
    user: User = request.user  # type: ignore[assignment]
    try:
        require_step_up(request, "privacy.export")
    except StepUpRequired as error:
        return step_up_redirect(request, error)
    archive = export_subject_data(user, actor=f"user:{user.pk}")
    response = HttpResponse(
        json.dumps(archive, ensure_ascii=False, indent=2), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="bankmall-{user.public_id}.json"'
    return response


# ------------------------------------------------------------------ security hub and two factors

TWO_FACTOR_PURPOSE: Final = "security.two_factor"


@principal_view()
@require_GET
def security_hub(request: HttpRequest) -> HttpResponse:
    """The user's security overview: links to every security page, with their state."""
    user: User = request.user  # type: ignore[assignment]
    context = {
        "two_factor": two_factor_overview(user),
        "active_sessions": UserSession.objects.filter(user=user, ended_at__isnull=True).count(),
        "active_consents": Consent.objects.filter(user=user, withdrawn_at__isnull=True).count(),
        "api_tokens": live_api_tokens(user) if user.kind in TOKEN_KINDS else None,
    }
    return render(request, "security/hub.html", context)


def _two_factor_step_up(request: HttpRequest) -> HttpResponse | None:
    """None when this session confirmed a code for two-factor changes in the last minutes;
    otherwise the redirect to the step-up page, coming back to the two-factor page (a POST
    cannot be repeated by a redirect)."""
    try:
        require_step_up(request, TWO_FACTOR_PURPOSE)
    except StepUpRequired as error:
        url = reverse("security-step-up", args=[error.extra["challenge_id"]])
        back = request.get_full_path() if request.method == "GET" else None
        # "Cancel" goes to the hub: the two-factor page itself would only ask again.
        query = urlencode(
            {"next": back or reverse("security-two-factor"), "cancel": reverse("security-hub")}
        )
        return HttpResponseRedirect(f"{url}?{query}")
    return None


@principal_view()
@require_GET
@never_cache
def two_factor_page(request: HttpRequest) -> HttpResponse:
    """Authenticators (name, added, last used) and backup codes left, behind a step-up."""
    if (challenge := _two_factor_step_up(request)) is not None:
        return challenge
    user: User = request.user  # type: ignore[assignment]
    return render(request, "security/two_factor.html", {"overview": two_factor_overview(user)})


class AuthenticatorForm(forms.Form):
    name = SingleLineField(
        label=gettext_lazy("Name (for example, the phone it is on)"),
        max_length=64,
        initial=gettext_lazy("Authenticator app"),
    )
    code = CodeForm.base_fields["code"]
    device = SingleLineField(widget=forms.HiddenInput, max_length=40)
    replaces = SingleLineField(widget=forms.HiddenInput, max_length=40, required=False)


@principal_view()
@require_http_methods(["GET", "POST"])
@never_cache
def add_authenticator_page(request: HttpRequest) -> HttpResponse:
    """Set up another authenticator (QR code and first code), optionally replacing one.

    ``?replaces=<id>`` names the user's authenticator to remove once the new one works, so the
    user is never left without one. Another user's id answers 404.
    """
    user: User = request.user  # type: ignore[assignment]
    replaces = request.POST.get("replaces") or request.GET.get("replaces") or ""
    try:
        replaced = access_authenticator(user, replaces) if replaces else None
    except NotFound:
        raise Http404(replaces) from None
    if (challenge := _two_factor_step_up(request)) is not None:
        return challenge
    device = start_additional_authenticator(user)
    initial = {"device": device.public_id, "replaces": replaces}
    form = AuthenticatorForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            added = confirm_additional_authenticator(
                user,
                device_id=form.cleaned_data["device"],
                name=form.cleaned_data["name"],
                code=form.cleaned_data["code"],
                replaces=form.cleaned_data["replaces"] or None,
                actor=f"user:{user.pk}",
            )
        except NotFound:
            raise Http404(form.cleaned_data["device"]) from None
        except InvalidOneTimeCode:
            form.add_error("code", WRONG_CODE)
        except BankmallError as error:
            form.add_error("name", error.detail)
        else:
            if replaced is not None:
                # The user just proved the new device: this session stays verified with it.
                _keep_session_verified(request, gone=replaced.persistent_id, remaining=added)
            done = _("Authenticator replaced.") if replaced else _("Authenticator added.")
            messages.success(request, done)
            return redirect("security-two-factor")
    secret = base64.b32encode(device.bin_key).decode("ascii")
    context = {
        "form": form,
        "replaced": replaced,
        "qr_code": qr_code_svg(device.config_url),
        "secret": _secret_groups(secret),
    }
    return render(request, "security/add_authenticator.html", context)


@principal_view()
@require_POST
def remove_authenticator_page(request: HttpRequest, device_id: str) -> HttpResponse:
    """Remove one authenticator; never the last one (that is replaced instead)."""
    user: User = request.user  # type: ignore[assignment]
    try:
        gone = access_authenticator(user, device_id).persistent_id
    except NotFound:
        raise Http404(device_id) from None
    if (challenge := _two_factor_step_up(request)) is not None:
        return challenge
    try:
        remaining = remove_authenticator(user, device_id=device_id, actor=f"user:{user.pk}")
    except NotFound:
        raise Http404(device_id) from None
    except BankmallError:
        messages.error(
            request,
            _("This is your only authenticator. Set up its replacement instead of removing it."),
        )
    else:
        _keep_session_verified(request, gone=gone, remaining=remaining)
        messages.success(request, _("Authenticator removed."))
    return redirect("security-two-factor")


def _keep_session_verified(request: HttpRequest, *, gone: str, remaining: Authenticator) -> None:
    """Move this session's second factor off a device that no longer exists.

    django-otp remembers which device verified a session; once that device is deleted, the
    session would count as unverified and be sent to the sign-in page in the middle of the
    change. The user passed a step-up on this session just before, so it stays verified with a
    device that exists. Other sessions verified with the deleted device no longer count as
    signed in (their next page asks for the sign-in): a replaced or removed authenticator
    signs out whoever used it.
    """
    if request.session.get(DEVICE_ID_SESSION_KEY) == gone:
        otp_login(request, remaining)


@principal_view()
@require_POST
def regenerate_backup_codes_page(request: HttpRequest) -> HttpResponse:
    """Make new backup codes (the old ones stop working) and show them once."""
    user: User = request.user  # type: ignore[assignment]
    if (challenge := _two_factor_step_up(request)) is not None:
        return challenge
    try:
        codes = regenerate_backup_codes(user, actor=f"user:{user.pk}")
    except BankmallError:
        messages.error(request, _("Set up an authenticator first."))
        return redirect("security-two-factor")
    request.session[BACKUP_CODES_KEY] = codes
    query = urlencode({"next": reverse("security-two-factor")})
    return HttpResponseRedirect(f"{reverse('security-backup-codes')}?{query}")


# ------------------------------------------------------------------ idle timeout warning


@public_view
@require_GET
@never_cache
def session_status(request: HttpRequest) -> JsonResponse:
    """How long this session has before it times out; asking does not extend it.

    ``{"signed_in": false}`` once it has ended (or for a visitor who never signed in), so the
    page's timeout warning (``web/session.js``) knows when to go to the sign-in page.
    """
    user = request.user
    if not isinstance(user, User) or not is_fully_signed_in(user):
        return JsonResponse({"signed_in": False})
    return JsonResponse({"signed_in": True, "seconds_left": _seconds_left(request, user)})


@principal_view()
@require_POST
@never_cache
def session_keep_alive(request: HttpRequest) -> JsonResponse:
    """ "Stay signed in": the request itself is the activity that restarts the idle timer."""
    user: User = request.user  # type: ignore[assignment]
    return JsonResponse({"signed_in": True, "seconds_left": _seconds_left(request, user)})


def _seconds_left(request: HttpRequest, user: User) -> int:
    # Rounded up: 0 must mean that the session has ended, never "a fraction of a second left".
    return math.ceil(idle_seconds_left(request, user))
