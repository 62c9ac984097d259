"""The security app's own maker-checker actions: granting a staff role and erasing a person's
personal data. Registered when the app is ready."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from bankmall.core.errors import FieldError, InvalidInput
from bankmall.security.actions import grant_role
from bankmall.security.approvals import ApprovalAction, ParameterLine, register_approval_action
from bankmall.security.models import User, UserKind
from bankmall.security.privacy import erase_personal_data, validate_erasure
from bankmall.security.roles import role_named


def _validate_role_grant(parameters: dict[str, Any]) -> None:
    problems = []
    if not User.objects.filter(
        public_id=str(parameters.get("user_id")), kind=UserKind.STAFF, is_active=True
    ).exists():
        problems.append(FieldError("user_id", "no such active staff member"))
    if role_named(str(parameters.get("role"))) is None:
        problems.append(FieldError("role", "unknown role"))
    if problems:
        raise InvalidInput(errors=problems)


def _run_role_grant(parameters: dict[str, Any], actor: str) -> dict[str, Any]:
    user = grant_role(user_id=parameters["user_id"], role=parameters["role"], actor=actor)
    return {"user_id": user.public_id, "role": parameters["role"]}


def _run_erasure(parameters: dict[str, Any], actor: str) -> dict[str, Any]:
    user = erase_personal_data(user_id=parameters["user_id"], actor=actor)
    return {
        "user_id": user.public_id,
        "erased_at": user.erased_at.isoformat() if user.erased_at else None,
    }


def _person(user_id: object) -> str:
    """``username (usr_…)``, or the raw id when the user is unknown."""
    user = User.objects.filter(public_id=str(user_id)).first()
    return f"{user.username} ({user.public_id})" if user is not None else str(user_id)


def _describe_role_grant(parameters: dict[str, Any]) -> list[ParameterLine]:
    role = role_named(str(parameters.get("role")))
    return [
        ParameterLine(_("Staff member"), _person(parameters.get("user_id"))),
        ParameterLine(_("Role"), str(role.label) if role else str(parameters.get("role"))),
    ]


def _describe_erasure(parameters: dict[str, Any]) -> list[ParameterLine]:
    return [ParameterLine(_("Person"), _person(parameters.get("user_id")))]


GRANT_ROLE = ApprovalAction(
    name="security.grant_role",
    label=_("Grant a staff role"),
    propose_permission="security.manage_staff",
    decide_permission="security.decide_approvals",
    run=_run_role_grant,
    validate=_validate_role_grant,
    describe=_describe_role_grant,
)
ERASE_PERSONAL_DATA = ApprovalAction(
    name="security.erase_personal_data",
    label=_("Erase a person's personal data"),
    propose_permission="security.manage_staff",
    decide_permission="security.decide_approvals",
    run=_run_erasure,
    validate=validate_erasure,
    describe=_describe_erasure,
)


def register() -> None:
    register_approval_action(GRANT_ROLE)
    register_approval_action(ERASE_PERSONAL_DATA)
