"""Maker-checker: a second member of staff approves; the action runs exactly once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from bankmall.core.errors import BankmallError, InvalidInput, PermissionDenied
from bankmall.core.models import AuditRecord
from bankmall.security.approvals import decide, needs_approval, propose
from bankmall.security.errors import ApprovalAlreadyDecided, SelfApprovalForbidden
from bankmall.security.models import ApprovalRequest, User, UserKind
from tests.signed_in import make_user, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def admins() -> tuple[User, User]:
    return (
        make_user("admin.one", kind=UserKind.STAFF, roles=("administrator",)),
        make_user("admin.two", kind=UserKind.STAFF, roles=("administrator",)),
    )


@pytest.fixture
def teller() -> User:
    return make_user("teller.wu", kind=UserKind.STAFF, roles=("teller",))


def _propose_grant(maker: User, target: User, role: str = "auditor") -> ApprovalRequest:
    return propose(
        action_type="security.grant_role",
        parameters={"user_id": target.public_id, "role": role},
        reason="covers the quarterly audit",
        maker=maker,
    )


def _roles(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_an_approved_role_grant_runs_once_by_its_action(
    admins: tuple[User, User], teller: User
) -> None:
    maker, checker = admins
    request = _propose_grant(maker, teller)

    assert _roles(teller) == {"teller"}
    decided = decide(request_id=request.public_id, checker=checker, approve=True)

    assert decided.status == "approved"
    assert decided.result == {"user_id": teller.public_id, "role": "auditor"}
    assert _roles(teller) == {"teller", "auditor"}
    assert AuditRecord.objects.filter(action="security.role_granted").count() == 1
    with pytest.raises(ApprovalAlreadyDecided):
        decide(request_id=request.public_id, checker=checker, approve=True)
    assert AuditRecord.objects.filter(action="security.role_granted").count() == 1


def test_the_maker_cannot_approve_their_own_request(
    admins: tuple[User, User], teller: User
) -> None:
    maker, _checker = admins
    request = _propose_grant(maker, teller)

    with pytest.raises(SelfApprovalForbidden):
        decide(request_id=request.public_id, checker=maker, approve=True)

    assert ApprovalRequest.objects.get().status == "pending"
    assert _roles(teller) == {"teller"}


def test_a_checker_without_the_permission_is_refused(
    admins: tuple[User, User], teller: User
) -> None:
    request = _propose_grant(admins[0], teller)

    with pytest.raises(PermissionDenied):
        decide(request_id=request.public_id, checker=teller, approve=True)

    assert ApprovalRequest.objects.get().status == "pending"


def test_a_rejected_request_changes_nothing(admins: tuple[User, User], teller: User) -> None:
    maker, checker = admins
    request = _propose_grant(maker, teller)

    decided = decide(request_id=request.public_id, checker=checker, approve=False, note="no")

    assert decided.status == "rejected"
    assert _roles(teller) == {"teller"}


def test_proposals_are_validated_and_need_the_propose_permission(
    admins: tuple[User, User], teller: User
) -> None:
    with pytest.raises(InvalidInput):
        _propose_grant(admins[0], teller, role="emperor")
    with pytest.raises(PermissionDenied):
        _propose_grant(teller, admins[0])

    assert not ApprovalRequest.objects.exists()


def test_role_grants_always_need_approval() -> None:
    assert needs_approval("security.grant_role", {}) is True


def test_the_back_office_pages_propose_and_decide(
    client: Client, admins: tuple[User, User], teller: User
) -> None:
    maker, checker = admins
    sign_in(client, maker)
    proposed = client.post(
        "/backoffice/staff/propose-role",
        {"user_id": teller.public_id, "role": "risk_analyst", "reason": "cover for leave"},
    )
    request = ApprovalRequest.objects.get()
    own = client.post(f"/backoffice/approvals/{request.public_id}/decide", {"decision": "approve"})
    checker_client = sign_in(Client(), checker)
    page = checker_client.get(
        f"/backoffice/approvals/{request.public_id}/", HTTP_ACCEPT_LANGUAGE="zh-CN"
    )
    approved = checker_client.post(
        f"/backoffice/approvals/{request.public_id}/decide", {"decision": "approve"}
    )

    assert proposed.status_code == 302
    assert own.status_code == 302
    assert "批准并执行" in page.content.decode()
    assert approved.status_code == 302
    assert ApprovalRequest.objects.get().checker == checker
    assert _roles(teller) == {"teller", "risk_analyst"}


def test_unknown_and_malformed_request_ids_are_not_found(
    client: Client, admins: tuple[User, User]
) -> None:
    sign_in(client, admins[0])

    assert client.get("/backoffice/approvals/apr_00000000000000000000000000/").status_code == 404
    assert client.get("/backoffice/approvals/1/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_approvals_run_the_action_once(requires_postgres: None) -> None:
    maker = make_user("admin.one", kind=UserKind.STAFF, roles=("administrator",))
    checkers = [
        make_user(f"admin.{n}", kind=UserKind.STAFF, roles=("administrator",)) for n in (2, 3)
    ]
    target = make_user("teller.wu", kind=UserKind.STAFF, roles=("teller",))
    request = _propose_grant(maker, target)
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def approve(checker: User) -> None:
        barrier.wait()
        try:
            outcomes.append(decide(request_id=request.public_id, checker=checker, approve=True))
        except BankmallError as error:
            outcomes.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(checker,)) for checker in checkers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(type(outcome).__name__ for outcome in outcomes) == [
        "ApprovalAlreadyDecided",
        "ApprovalRequest",
    ]
    assert AuditRecord.objects.filter(action="security.role_granted").count() == 1
    assert AuditRecord.objects.filter(action="security.approval_approved").count() == 1


def test_the_staff_page_names_roles_in_the_readers_language(
    client: Client, admins: tuple[User, User], teller: User
) -> None:
    sign_in(client, admins[0])

    html = client.get("/backoffice/staff/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()

    assert "柜员" in html
    assert teller.public_id in html


def test_an_unknown_decision_or_an_overlong_note_decides_nothing(
    client: Client, admins: tuple[User, User], teller: User
) -> None:
    maker, checker = admins
    request = _propose_grant(maker, teller)
    checker_client = sign_in(Client(), checker)
    url = f"/backoffice/approvals/{request.public_id}/decide"

    maybe = checker_client.post(url, {"decision": "maybe"}, follow=True)
    essay = checker_client.post(url, {"decision": "reject", "note": "x" * 2001}, follow=True)

    assert maybe.status_code == 200
    assert essay.status_code == 200
    assert "Select a valid choice." in maybe.content.decode()
    assert ApprovalRequest.objects.get().status == ApprovalRequest.Status.PENDING
    assert _roles(teller) == {"teller"}
