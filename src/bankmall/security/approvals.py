"""Maker-checker: sensitive actions wait for a second member of staff before they run.

An app registers each sensitive action once (``register_approval_action``): its name, the
permission a maker needs to propose it, the permission a checker needs to decide it, a
validator for its parameters, the function that carries it out, and optionally the amount
parameter and threshold above which approval is needed (``APPROVAL_THRESHOLDS_MINOR``
overrides thresholds per deployment). ``propose`` stores a request; ``decide`` approves or
rejects it. On approval the action function runs exactly once, inside the transaction that
marks the request approved and under a row lock, so two concurrent approvals cannot both run
it; if the action fails, nothing changes and the request stays pending.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise

from bankmall.core.audit import record_audit
from bankmall.core.errors import FieldError, InvalidInput, NotFound, PermissionDenied
from bankmall.core.ids import require_id
from bankmall.core.outbox import record_event
from bankmall.core.text import TextKind, require_text
from bankmall.security.access import may_use_staff_permission
from bankmall.security.errors import ApprovalAlreadyDecided, SelfApprovalForbidden
from bankmall.security.models import ApprovalRequest, User

REASON_LENGTH_MIN: Final = 5
REASON_LENGTH_MAX: Final = 2000


@dataclass(frozen=True, slots=True)
class ParameterLine:
    """One line of a request's description: a translated label and a display value."""

    label: str | Promise
    value: str


@dataclass(frozen=True, slots=True)
class ApprovalAction:
    """A registered sensitive action.

    ``run(parameters, actor)`` carries it out through the app's normal action function and
    returns a JSON-able summary; ``validate(parameters)`` raises ``InvalidInput`` for bad
    parameters. ``amount_parameter`` (minor units) with ``threshold_minor`` means "needs
    approval only from this amount"; without them the action always needs approval.
    """

    name: str
    label: str | Promise
    propose_permission: str
    decide_permission: str
    run: Callable[[dict[str, Any], str], dict[str, Any]]
    validate: Callable[[dict[str, Any]], None]
    amount_parameter: str | None = None
    threshold_minor: int | None = None
    describe: Callable[[dict[str, Any]], list[ParameterLine]] | None = None

    def threshold(self) -> int | None:
        configured: dict[str, int] = getattr(settings, "APPROVAL_THRESHOLDS_MINOR", {})
        return configured.get(self.name, self.threshold_minor)


_REGISTRY: dict[str, ApprovalAction] = {}


def register_approval_action(action: ApprovalAction) -> None:
    """Register ``action`` (once per name; call from the owning app's ``ready``)."""
    existing = _REGISTRY.get(action.name)
    assert existing is None or existing == action, f"{action.name} registered twice"
    _REGISTRY[action.name] = action


def approval_action(name: str) -> ApprovalAction:
    action = _REGISTRY.get(name)
    if action is None:
        raise InvalidInput(
            f"No approval action {name!r}",
            errors=[FieldError("action_type", "unknown action type")],
        )
    return action


def registered_actions() -> list[ApprovalAction]:
    return sorted(_REGISTRY.values(), key=lambda action: action.name)


def describe_parameters(action_type: str, parameters: dict[str, Any]) -> list[ParameterLine]:
    """What a person reads about a request's parameters.

    The registered ``describe`` of the action when there is one; otherwise (an unknown type, or
    an action without one) each parameter as ``name = value``. A description never raises:
    an account or user that has gone since the request was made is shown by its raw value.
    """
    action = _REGISTRY.get(action_type)
    if action is not None and action.describe is not None:
        return action.describe(dict(parameters))
    return [ParameterLine(label=str(key), value=str(value)) for key, value in parameters.items()]


def needs_approval(name: str, parameters: dict[str, Any]) -> bool:
    """True when this action with these parameters must go through maker-checker."""
    action = approval_action(name)
    threshold = action.threshold()
    if action.amount_parameter is None or threshold is None:
        return True
    return int(parameters.get(action.amount_parameter, 0)) >= threshold


def _actor(user: User) -> str:
    return f"user:{user.pk}"


def propose(
    *, action_type: str, parameters: dict[str, Any], reason: str, maker: User
) -> ApprovalRequest:
    """Store a request for ``action_type`` with ``parameters``, made by ``maker``.

    Errors: ``validation_error`` (unknown type, bad parameters, reason not 5-2000 characters,
    control characters in the reason or a text parameter: see ``core.text``),
    ``permission_denied`` (the maker may not propose it). Effects: one pending request, audit
    ``security.approval_requested``, event ``approval.requested``.
    """
    action = approval_action(action_type)
    if not may_use_staff_permission(maker, action.propose_permission):
        raise PermissionDenied("You may not propose this action")
    reason = reason.strip()
    if not REASON_LENGTH_MIN <= len(reason) <= REASON_LENGTH_MAX:
        raise InvalidInput(
            "reason must be 5 to 2000 characters",
            errors=[FieldError("reason", "must be 5 to 2000 characters")],
        )
    require_text({"reason": reason}, TextKind.MULTI_LINE)
    require_text({name: value for name, value in parameters.items() if isinstance(value, str)})
    action.validate(parameters)
    with transaction.atomic():
        request = ApprovalRequest.objects.create(
            action_type=action_type,
            parameters=parameters,
            reason=reason,
            maker=maker,
            created_at=timezone.now(),
        )
        record_audit(
            "security.approval_requested",
            target=request.public_id,
            details={"action_type": action_type},
            after={"parameters": parameters},
            actor=_actor(maker),
        )
        record_event(
            "approval.requested",
            aggregate_id=request.public_id,
            payload={"action_type": action_type},
        )
    return request


def access_approval(request_id: str) -> ApprovalRequest:
    """One request by id; malformed and unknown ids answer ``not_found`` alike."""
    require_id("apr", request_id)
    request = ApprovalRequest.objects.select_related("maker", "checker").filter(
        public_id=request_id
    )
    found = request.first()
    if found is None:
        raise NotFound("No such approval request")
    return found


def decide(*, request_id: str, checker: User, approve: bool, note: str = "") -> ApprovalRequest:
    """Approve (and carry out) or reject a pending request.

    Errors: ``not_found``; ``self_approval_forbidden`` (the checker is the maker);
    ``permission_denied`` (the checker lacks the decide permission);
    ``approval_already_decided``; any error of the action itself (then nothing changes and
    the request stays pending). Effects on approval: the action's own effects, status
    ``approved``, ``result``, audit ``security.approval_approved`` and event
    ``approval.decided``; on rejection the same without running the action.
    """
    require_id("apr", request_id)
    with transaction.atomic():
        request = ApprovalRequest.objects.select_for_update().filter(public_id=request_id).first()
        if request is None:
            raise NotFound("No such approval request")
        action = approval_action(request.action_type)
        if request.maker_id == checker.pk:
            raise SelfApprovalForbidden()
        if not may_use_staff_permission(checker, action.decide_permission):
            raise PermissionDenied("You may not decide this request")
        if request.status != ApprovalRequest.Status.PENDING:
            raise ApprovalAlreadyDecided()
        result = action.run(dict(request.parameters), _actor(checker)) if approve else {}
        # After this point the operation must succeed.
        request.status = (
            ApprovalRequest.Status.APPROVED if approve else ApprovalRequest.Status.REJECTED
        )
        request.checker = checker
        request.decided_at = timezone.now()
        request.decision_note = note.strip()[:REASON_LENGTH_MAX]
        request.result = result
        request.save(update_fields=["status", "checker", "decided_at", "decision_note", "result"])
        record_audit(
            f"security.approval_{request.status}",
            target=request.public_id,
            details={"action_type": request.action_type, "maker": request.maker.public_id},
            actor=_actor(checker),
        )
        record_event(
            "approval.decided",
            aggregate_id=request.public_id,
            payload={"action_type": request.action_type, "status": request.status},
        )
    return request
