"""Identities. One user table for every kind of principal, told apart by ``kind``."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils.translation import gettext_lazy as _

from bankmall.core.fields import public_id_field


class UserKind(models.TextChoices):
    CUSTOMER = "customer", _("Customer")
    MERCHANT = "merchant", _("Merchant user")
    STAFF = "staff", _("Bank staff")


class BankmallUserManager(UserManager["User"]):
    def create_superuser(
        self,
        username: str,
        email: str | None = None,
        password: str | None = None,
        **extra_fields: Any,
    ) -> User:
        extra_fields.setdefault("kind", UserKind.STAFF)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A person who signs in: a customer, a merchant's user or a member of bank staff.

    Constraints: ``public_id`` (``usr_…``) is the only id shown outside the process;
    ``is_staff`` is true exactly for ``kind == staff``.
    """

    public_id = public_id_field("usr")
    kind = models.CharField(max_length=16, choices=UserKind.choices, default=UserKind.CUSTOMER)

    objects: ClassVar[BankmallUserManager] = BankmallUserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind=UserKind.STAFF, is_staff=True)
                    | (~models.Q(kind=UserKind.STAFF) & models.Q(is_staff=False))
                ),
                name="user_is_staff_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.username
