"""Sign-in, password reset, sessions and step-up pages (included at the site root)."""

from __future__ import annotations

from django.urls import path

from bankmall.security import views

urlpatterns = [
    path("login/", views.login_page, name="security-login"),
    path("login/verify/", views.verify_page, name="security-login-verify"),
    path("login/enrol/", views.enrol_page, name="security-login-enrol"),
    path("logout/", views.logout_page, name="security-logout"),
    path("password-reset/", views.RESET_VIEWS["request"], name="security-password-reset"),
    path(
        "password-reset/sent/",
        views.RESET_VIEWS["sent"],
        name="security-password-reset-sent",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        views.RESET_VIEWS["confirm"],
        name="security-password-reset-confirm",
    ),
    path(
        "password-reset/complete/",
        views.RESET_VIEWS["complete"],
        name="security-password-reset-complete",
    ),
    path("security/", views.security_hub, name="security-hub"),
    path("security/two-factor/", views.two_factor_page, name="security-two-factor"),
    path(
        "security/two-factor/authenticators/new/",
        views.add_authenticator_page,
        name="security-authenticator-add",
    ),
    path(
        "security/two-factor/authenticators/<str:device_id>/remove",
        views.remove_authenticator_page,
        name="security-authenticator-remove",
    ),
    path(
        "security/two-factor/backup-codes",
        views.regenerate_backup_codes_page,
        name="security-backup-codes-regenerate",
    ),
    path("security/backup-codes/", views.backup_codes_page, name="security-backup-codes"),
    path("security/session/status", views.session_status, name="security-session-status"),
    path(
        "security/session/keep-alive",
        views.session_keep_alive,
        name="security-session-keep-alive",
    ),
    path("security/sessions/", views.sessions_page, name="security-sessions"),
    path(
        "security/sign-out-everywhere/",
        views.sign_out_everywhere_page,
        name="security-sign-out-everywhere",
    ),
    path("security/step-up/<str:challenge_id>/", views.step_up_page, name="security-step-up"),
    path("security/privacy/", views.privacy_page, name="security-privacy"),
    path("security/privacy/consents", views.grant_consent_page, name="security-consent-grant"),
    path(
        "security/privacy/consents/<str:consent_id>/withdraw",
        views.withdraw_consent_page,
        name="security-consent-withdraw",
    ),
    path("security/privacy/export", views.privacy_export, name="security-privacy-export"),
]
