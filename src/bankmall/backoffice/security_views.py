"""Back-office pages of the security app: maker-checker approvals, staff roles, the audit
viewer and its JSON-lines export. Every view is guarded by ``staff_view`` (default deny); every
change goes through an action in ``bankmall.security``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Final

from django import forms
from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from bankmall.core.audit import export_lines, format_cursor, parse_cursor
from bankmall.core.errors import BankmallError, NotFound
from bankmall.core.models import AuditRecord
from bankmall.core.text import MultiLineField, SingleLineField
from bankmall.security.access import acting_user, may_use_staff_permission, staff_view
from bankmall.security.actions import note_audit_export
from bankmall.security.approvals import (
    access_approval,
    decide,
    describe_parameters,
    propose,
    registered_actions,
)
from bankmall.security.models import ApprovalRequest, User, UserKind
from bankmall.security.roles import ROLES

PAGE_SIZE: Final = 50
FILTER_LENGTH_MAX: Final = 100


def _fail(request: HttpRequest, error: BankmallError) -> None:
    messages.error(request, error.for_people())


# ------------------------------------------------------------------ approvals


@require_GET
@staff_view("security.access_backoffice")
def approvals(request: HttpRequest) -> HttpResponse:
    """Pending requests first, then the latest decided ones."""
    status = request.GET.get("status", ApprovalRequest.Status.PENDING)
    if status not in ApprovalRequest.Status.values:
        status = ApprovalRequest.Status.PENDING
    rows = (
        ApprovalRequest.objects.select_related("maker", "checker")
        .filter(status=status)
        .order_by("-created_at")[:PAGE_SIZE]
    )
    user = acting_user(request)
    context = {
        "requests": [(row, describe_parameters(row.action_type, row.parameters)) for row in rows],
        "status": status,
        "statuses": ApprovalRequest.Status.choices,
        "actions": {action.name: action.label for action in registered_actions()},
        "may_propose": may_use_staff_permission(user, "security.manage_staff"),
    }
    return render(request, "backoffice/security/approvals.html", context)


@require_GET
@staff_view("security.access_backoffice")
def approval_detail(request: HttpRequest, request_id: str) -> HttpResponse:
    try:
        approval = access_approval(request_id)
    except NotFound:
        raise Http404(request_id) from None
    user = acting_user(request)
    context = {
        "approval": approval,
        "lines": describe_parameters(approval.action_type, approval.parameters),
        "actions": {action.name: action.label for action in registered_actions()},
        "may_decide": approval.status == ApprovalRequest.Status.PENDING
        and approval.maker_id != user.pk
        and may_use_staff_permission(user, "security.decide_approvals"),
        "is_maker": approval.maker_id == user.pk,
    }
    return render(request, "backoffice/security/approval_detail.html", context)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=gettext_lazy("Decision"),
        choices=[("approve", gettext_lazy("Approve")), ("reject", gettext_lazy("Reject"))],
    )
    note = MultiLineField(label=gettext_lazy("Note"), max_length=2000, required=False)


@require_POST
@staff_view("security.decide_approvals")
def approval_decide(request: HttpRequest, request_id: str) -> HttpResponse:
    """Approve (and carry out) or reject; the maker is always refused."""
    form = DecisionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(str(error) for error in errors))
        return redirect("backoffice-approval", request_id=request_id)
    try:
        decided = decide(
            request_id=request_id,
            checker=acting_user(request),
            approve=form.cleaned_data["decision"] == "approve",
            note=form.cleaned_data["note"],
        )
    except NotFound:
        raise Http404(request_id) from None
    except BankmallError as error:
        _fail(request, error)
    else:
        messages.success(request, decided.get_status_display())
    return redirect("backoffice-approval", request_id=request_id)


# ------------------------------------------------------------------ staff and roles


class RoleGrantForm(forms.Form):
    user_id = SingleLineField(label=gettext_lazy("Staff member id"), max_length=40)
    role = forms.ChoiceField(
        label=gettext_lazy("Role"), choices=[(role.name, role.label) for role in ROLES]
    )
    reason = MultiLineField(label=gettext_lazy("Reason"), max_length=2000, widget=forms.Textarea)


class ErasureForm(forms.Form):
    user_id = SingleLineField(label=gettext_lazy("Customer or merchant user id"), max_length=40)
    reason = MultiLineField(label=gettext_lazy("Reason"), max_length=2000, widget=forms.Textarea)


@require_GET
@staff_view("security.manage_staff")
def staff(request: HttpRequest) -> HttpResponse:
    """Staff members and their roles, with forms to propose a role grant or an erasure."""
    members = (
        User.objects.filter(kind=UserKind.STAFF).prefetch_related("groups").order_by("username")
    )
    context = {
        "members": members,
        "role_labels": {role.name: role.label for role in ROLES},
        "form": RoleGrantForm(),
        "erasure_form": ErasureForm(),
    }
    return render(request, "backoffice/security/staff.html", context)


def _propose_from(request: HttpRequest, form: forms.Form, action_type: str) -> HttpResponse:
    if not form.is_valid():
        # A value the field refuses (a control character) says why; a missing one, what to do.
        refused = [
            error.messages[0]
            for errors in form.errors.as_data().values()
            for error in errors
            if error.code != "required"
        ]
        messages.error(request, refused[0] if refused else _("Fill in every field."))
        return redirect("backoffice-staff")
    parameters = {key: value for key, value in form.cleaned_data.items() if key != "reason"}
    try:
        created = propose(
            action_type=action_type,
            parameters=parameters,
            reason=form.cleaned_data["reason"],
            maker=acting_user(request),
        )
    except BankmallError as error:
        _fail(request, error)
        return redirect("backoffice-staff")
    messages.success(request, _("Proposed. Another member of staff must approve it."))
    return redirect("backoffice-approval", request_id=created.public_id)


@require_POST
@staff_view("security.manage_staff")
def propose_role_grant(request: HttpRequest) -> HttpResponse:
    return _propose_from(request, RoleGrantForm(request.POST), "security.grant_role")


@require_POST
@staff_view("security.manage_staff")
def propose_erasure(request: HttpRequest) -> HttpResponse:
    return _propose_from(request, ErasureForm(request.POST), "security.erase_personal_data")


# ------------------------------------------------------------------ audit log


class AuditFilterForm(forms.Form):
    action = SingleLineField(label=gettext_lazy("Action"), required=False, max_length=100)
    actor = SingleLineField(label=gettext_lazy("Actor"), required=False, max_length=100)
    target = SingleLineField(label=gettext_lazy("Target"), required=False, max_length=100)
    since = forms.DateField(label=gettext_lazy("From"), required=False)
    until = forms.DateField(label=gettext_lazy("To"), required=False)
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


def _filtered_audit(form: AuditFilterForm) -> QuerySet[AuditRecord]:
    records = AuditRecord.objects.order_by("-id")
    if not form.is_valid():
        return records.none()
    data = form.cleaned_data
    if data["action"]:
        records = records.filter(action__startswith=data["action"])
    if data["actor"]:
        records = records.filter(actor=data["actor"])
    if data["target"]:
        records = records.filter(Q(target=data["target"]))
    if data["since"]:
        start = dt.datetime.combine(
            data["since"], dt.time.min, tzinfo=timezone.get_current_timezone()
        )
        records = records.filter(occurred_at__gte=start)
    if data["until"]:
        end = dt.datetime.combine(
            data["until"], dt.time.max, tzinfo=timezone.get_current_timezone()
        )
        records = records.filter(occurred_at__lte=end)
    if data["before"]:
        records = records.filter(id__lt=data["before"])
    return records


@require_GET
@staff_view("security.view_audit_log")
def audit_log(request: HttpRequest) -> HttpResponse:
    """The audit log, newest first, filtered by action prefix, actor, target and dates."""
    form = AuditFilterForm(request.GET or None)
    rows = (
        list(_filtered_audit(form)[: PAGE_SIZE + 1])
        if request.GET
        else list(AuditRecord.objects.order_by("-id")[: PAGE_SIZE + 1])
    )
    next_before = rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None
    query = request.GET.copy()
    query.pop("before", None)
    context = {
        "form": form if request.GET else AuditFilterForm(),
        "records": rows[:PAGE_SIZE],
        "next_before": next_before,
        "query": query.urlencode(),
    }
    return render(request, "backoffice/security/audit.html", context)


@require_GET
@staff_view("security.export_audit_log")
def audit_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The whole log (or the part after ``?after=``) as JSON lines; the export is audited."""
    try:
        after = parse_cursor(request.GET.get("after", ""))
    except ValueError as error:
        return HttpResponseBadRequest(
            _("The export cursor is not valid: %(error)s") % {"error": error},
            content_type="text/plain; charset=utf-8",
        )
    cursor_text = format_cursor(after)
    note_audit_export(after=cursor_text, actor=f"user:{acting_user(request).pk}")

    def lines() -> Iterator[str]:
        for line in export_lines(after=after):
            yield line + "\n"

    response = StreamingHttpResponse(lines(), content_type="application/x-ndjson; charset=utf-8")
    name = cursor_text.replace(":", ".").replace(",", "_") or "0"
    response["Content-Disposition"] = f'attachment; filename="audit-after-{name}.jsonl"'
    return response
