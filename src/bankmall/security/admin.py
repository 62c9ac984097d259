from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.core.validators import ProhibitNullCharactersValidator
from django.db import models
from django.http import HttpRequest

from bankmall.core.text import TextKind, TextValidator
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

    def formfield_for_dbfield(
        self, db_field: models.Field[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.Field | None:
        """Every text the admin edits (username, names, e-mail) follows the single-line rule:
        no control character reaches the table, as on every other form (``core/text.py``)."""
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if isinstance(field, forms.CharField) and db_field.name != "password":
            # One message per field: the rule refuses NUL too (as ``core.text`` form fields do).
            field.validators = [
                item
                for item in field.validators
                if not isinstance(item, ProhibitNullCharactersValidator)
            ]
            field.validators.append(TextValidator(TextKind.SINGLE_LINE))
        return field


# Authenticators and backup codes are deliberately not in the admin: secrets are never shown,
# and people manage their own second factors at /security/two-factor/.
