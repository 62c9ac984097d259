from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

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


# Authenticators and backup codes are deliberately not in the admin: secrets are never shown,
# and people manage their own second factors at /security/two-factor/.
