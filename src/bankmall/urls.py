"""URL map: pages, the API under /api/v1/, the health check, language switch, admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from bankmall.api import api
from bankmall.backoffice import views as backoffice_views
from bankmall.core.views import healthz
from bankmall.security import views as security_views
from bankmall.web import views as web_views

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages that name no icon (the Django admin's).
    path("favicon.ico", web_views.favicon),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/login/", security_views.admin_login),
    path("admin/", admin.site.urls),
    path("", include("bankmall.security.urls")),
    path("bank/", include("bankmall.banking.urls")),
    path("backoffice/", backoffice_views.dashboard, name="backoffice-dashboard"),
    path("backoffice/", include("bankmall.backoffice.security_urls")),
    path("backoffice/banking/", include("bankmall.backoffice.banking_urls")),
    path("problems/", web_views.problem_index, name="problem-index"),
    path("problems/<slug:slug>", web_views.problem_detail, name="problem-detail"),
    path("", web_views.home, name="home"),
]

# The Django admin signs in through the two-factor login and admits only verified staff.
admin.site.has_permission = security_views.admin_has_permission  # type: ignore[method-assign]

handler400 = "bankmall.web.views.bad_request"
handler403 = "bankmall.web.views.forbidden"
handler404 = "bankmall.web.views.not_found"
handler500 = "bankmall.web.views.server_error"
