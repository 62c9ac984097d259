"""The default-deny helpers: who reaches a page, who is sent to sign in, who is refused."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from bankmall.security.access import merchant_view, principal_view, staff_view
from bankmall.security.models import User, UserKind
from tests.signed_in import make_user

pytestmark = pytest.mark.django_db


def _page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def _request(user: User | AnonymousUser, *, verified: bool = True) -> HttpRequest:
    request = RequestFactory().get("/somewhere")
    if isinstance(user, User):
        user.is_verified = lambda: verified  # type: ignore[attr-defined]
    request.user = user
    return request


def _status(view: object, user: User | AnonymousUser, *, verified: bool = True) -> int:
    try:
        status: int = view(_request(user, verified=verified)).status_code  # type: ignore[operator]
    except PermissionDenied:
        return 403
    return status


def test_merchant_pages_follow_the_merchant_role() -> None:
    page = merchant_view("security.merchant_view_finance")(_page)
    finance = make_user("shop.finance", kind=UserKind.MERCHANT)
    finance.groups.set(Group.objects.filter(name="merchant_finance"))
    operator = make_user("shop.operator", kind=UserKind.MERCHANT)
    operator.groups.set(Group.objects.filter(name="merchant_operator"))

    assert _status(page, User.objects.get(pk=finance.pk)) == 200
    assert _status(page, User.objects.get(pk=operator.pk)) == 403
    assert _status(page, make_user("li.lei")) == 403
    assert _status(page, AnonymousUser()) == 302


def test_a_password_without_the_second_factor_reaches_no_protected_page() -> None:
    staff = make_user("ops.he", kind=UserKind.STAFF, roles=("administrator",))
    customer = make_user("li.lei")

    assert _status(staff_view("security.access_backoffice")(_page), staff, verified=False) == 302
    assert _status(principal_view("customer")(_page), customer, verified=False) == 302
    assert _status(principal_view("customer")(_page), customer) == 200


def test_inactive_users_are_treated_as_signed_out() -> None:
    customer = make_user("li.lei")
    customer.is_active = False

    assert _status(principal_view()(_page), customer) == 302


def test_api_operations_check_kind_and_staff_permission() -> None:
    from bankmall.core.errors import AuthenticationRequired
    from bankmall.core.errors import PermissionDenied as ApiPermissionDenied
    from bankmall.security.access import principal_operation, staff_operation

    def operation(request: HttpRequest) -> str:
        return "ran"

    audit_only = staff_operation("security.view_audit_log")(operation)
    customers_only = principal_operation("customer")(operation)
    auditor = make_user("audit.qian", kind=UserKind.STAFF, roles=("auditor",))
    teller = make_user("teller.wu", kind=UserKind.STAFF, roles=("teller",))

    def call(target: object, user: User | None) -> str:
        request = RequestFactory().get("/api/v1/x")
        request.auth = user  # type: ignore[attr-defined]
        try:
            return str(target(request))  # type: ignore[operator]
        except (ApiPermissionDenied, AuthenticationRequired) as error:
            return error.code

    assert call(audit_only, auditor) == "ran"
    assert call(audit_only, teller) == "permission_denied"
    assert call(customers_only, teller) == "permission_denied"
    assert call(customers_only, make_user("li.lei")) == "ran"
    assert call(customers_only, None) == "authentication_required"
