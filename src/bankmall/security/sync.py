"""Keep the role groups' permissions equal to ``roles.ROLES`` (run after every migrate)."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

from bankmall.security.roles import MERCHANT_ROLES, ROLES


def _permissions(codes: tuple[str, ...], *, using: str) -> list[Permission]:
    query = Q(pk__in=[])
    for code in codes:
        app_label, _, codename = code.partition(".")
        query |= Q(content_type__app_label=app_label, codename=codename)
    return list(Permission.objects.using(using).filter(query))


def sync_roles(*, using: str = "default") -> None:
    """Create each role's group and set its permissions to exactly the listed ones.

    The auditor (``reads_everything``) also gets every ``view_*`` permission of every app.
    """
    every_view = list(Permission.objects.using(using).filter(codename__startswith="view_"))
    for role in (*ROLES, *MERCHANT_ROLES):
        group, _created = Group.objects.using(using).get_or_create(name=role.name)
        wanted = _permissions(role.permissions, using=using)
        if role.reads_everything:
            wanted += every_view
        group.permissions.set(wanted)
