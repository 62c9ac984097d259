from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from bankmall.security.models import User


@admin.register(User)
class BankmallUserAdmin(UserAdmin):  # type: ignore[type-arg]
    list_display = ("username", "public_id", "kind", "is_active", "last_login")
    list_filter = ("kind", "is_active", "is_superuser")
    readonly_fields = ("public_id", "last_login", "date_joined")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("bankmall", {"fields": ("public_id", "kind")}),
    )


# Authenticator secrets and backup codes are never shown, not even to superusers: people enrol
# their own authenticator at sign-in. The admin pages django-otp brings are removed.
for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
