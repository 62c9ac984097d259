"""Consents, the data-subject export, erasure, and the back-office audit viewer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import Client

from bankmall.backoffice.security_views import AuditFilterForm, _filtered_audit
from bankmall.core.audit import record_audit, verify_chain
from bankmall.core.errors import Conflict, NotFound
from bankmall.core.models import AuditRecord
from bankmall.security.approvals import decide, propose
from bankmall.security.models import Authenticator, Consent, LoginEvent, User, UserKind
from bankmall.security.privacy import (
    erase_personal_data,
    grant_consent,
    has_consent,
    withdraw_consent,
)
from tests.signed_in import current_code, make_user, sign_in

pytestmark = pytest.mark.django_db


def test_consent_is_recorded_and_withdrawn_with_history() -> None:
    user = make_user("li.lei")

    consent = grant_consent(user, purpose="data_sharing", partner="Acme Pay")
    with pytest.raises(Conflict):
        grant_consent(user, purpose="data_sharing", partner="Acme Pay")
    withdraw_consent(user, consent.public_id)
    again = grant_consent(user, purpose="data_sharing", partner="Acme Pay")

    assert has_consent(user, purpose="data_sharing", partner="Acme Pay")
    assert Consent.objects.filter(user=user).count() == 2
    assert again.public_id != consent.public_id


def test_another_users_consent_is_not_found(client: Client) -> None:
    owner = make_user("li.lei")
    consent = grant_consent(owner, purpose="marketing")
    sign_in(client, make_user("han.meimei"))

    response = client.post(f"/security/privacy/consents/{consent.public_id}/withdraw")

    assert response.status_code == 404
    assert Consent.objects.get().withdrawn_at is None
    with pytest.raises(NotFound):
        withdraw_consent(User.objects.get(username="han.meimei"), consent.public_id)


def test_the_export_needs_a_step_up_and_holds_the_persons_data(client: Client) -> None:
    user = make_user("li.lei")
    grant_consent(user, purpose="marketing")
    sign_in(client, user)

    first = client.get("/security/privacy/export")
    client.post(first["Location"], {"code": current_code(user)})
    download = client.get("/security/privacy/export")
    archive = json.loads(download.content)

    assert first.status_code == 302
    assert first["Location"].startswith("/security/step-up/stp_")
    assert download["Content-Disposition"].startswith("attachment;")
    assert archive["subject"] == user.public_id
    assert archive["security"]["profile"]["email"] == "li.lei@example.com"
    assert archive["security"]["consents"][0]["purpose"] == "marketing"
    assert AuditRecord.objects.filter(action="security.subject_data_exported").count() == 1


def test_the_privacy_page_is_translated(client: Client) -> None:
    sign_in(client, make_user("li.lei"))

    response = client.get("/security/privacy/", HTTP_ACCEPT_LANGUAGE="zh-CN")

    assert "下载我的数据" in response.content.decode()


def test_erasure_anonymises_but_keeps_the_audit_log() -> None:
    user = make_user("li.lei")
    grant_consent(user, purpose="marketing")
    LoginEvent.objects.create(
        user=user, outcome="succeeded", occurred_at=user.date_joined, ip_address="10.0.0.1"
    )
    records_before = AuditRecord.objects.count()

    erase_personal_data(user_id=user.public_id, actor="test")

    user.refresh_from_db()
    assert user.username == f"erased-{user.public_id}"
    assert (user.email, user.first_name, user.is_active) == ("", "", False)
    assert not user.has_usable_password()
    assert not Authenticator.objects.filter(user=user).exists()
    assert LoginEvent.objects.get(user=user).ip_address is None
    assert not has_consent(user, purpose="marketing")
    assert AuditRecord.objects.count() > records_before
    assert verify_chain().is_intact
    with pytest.raises(Conflict):
        erase_personal_data(user_id=user.public_id, actor="test")


def test_erasure_goes_through_maker_checker() -> None:
    maker = make_user("admin.one", kind=UserKind.STAFF, roles=("administrator",))
    checker = make_user("admin.two", kind=UserKind.STAFF, roles=("administrator",))
    customer = make_user("li.lei")

    request = propose(
        action_type="security.erase_personal_data",
        parameters={"user_id": customer.public_id},
        reason="the customer asked in writing",
        maker=maker,
    )
    decide(request_id=request.public_id, checker=checker, approve=True)

    customer.refresh_from_db()
    assert customer.erased_at is not None


def test_the_audit_viewer_filters_and_exports(client: Client) -> None:
    auditor = make_user("audit.qian", kind=UserKind.STAFF, roles=("auditor",))
    grant_consent(make_user("li.lei"), purpose="marketing")
    sign_in(client, auditor)

    filtered = client.get("/backoffice/audit/", {"action": "security.consent"})
    export = client.get("/backoffice/audit/export.jsonl")
    lines = b"".join(export.streaming_content).decode().splitlines()  # type: ignore[attr-defined]

    assert [record.action for record in filtered.context["records"]] == ["security.consent_granted"]
    assert json.loads(lines[0])["sequence"] == 1
    assert AuditRecord.objects.filter(action="security.audit_exported").count() == 1


def test_tellers_cannot_see_the_audit_log(client: Client) -> None:
    sign_in(client, make_user("teller.wu", kind=UserKind.STAFF, roles=("teller",)))

    assert client.get("/backoffice/audit/").status_code == 403
    assert client.get("/backoffice/audit/export.jsonl").status_code == 403


def test_full_personal_data_is_shown_only_to_roles_that_need_it_and_audited() -> None:
    from bankmall.security.masking import mask_national_id
    from bankmall.security.privacy import personal_value_for

    reviewer = make_user("kyc.sun", kind=UserKind.STAFF, roles=("kyc_reviewer",))
    teller = make_user("teller.wu", kind=UserKind.STAFF, roles=("teller",))
    number = "11010119900307457X"
    shown = {
        user.username: personal_value_for(
            user, value=number, masked=mask_national_id(number), subject_id="usr_x", field="id"
        )
        for user in (reviewer, teller)
    }

    assert shown == {"kyc.sun": number, "teller.wu": "1••••••••••••••••X"}
    assert AuditRecord.objects.filter(action="security.personal_data_viewed").count() == 1


def test_the_end_of_day_purges_sign_in_records_past_retention(settings: Any) -> None:
    import datetime as dt

    from django.db import transaction
    from django.utils import timezone

    from bankmall.security.privacy import purge_expired_records

    settings.PRIVACY_RETENTION_DAYS = 30
    user = make_user("li.lei")
    now = timezone.now()
    for days in (31, 29):
        LoginEvent.objects.create(
            user=user, outcome="succeeded", occurred_at=now - dt.timedelta(days=days)
        )

    with transaction.atomic():
        summary = purge_expired_records(timezone.localdate(), lambda done, total: None)

    assert summary["sign_ins"] == 1
    assert list(LoginEvent.objects.values_list("occurred_at", flat=True)) == [
        now - dt.timedelta(days=29)
    ]
    assert AuditRecord.objects.filter(action="security.records_purged").count() == 1


def test_the_action_prefix_filter_reads_an_index_range_on_postgresql(
    requires_postgres: None,
) -> None:
    # Migration core 0012: with a plain b-tree the server's collation lets LIKE 'x%' use the
    # index for nothing, and the filter read the whole log in id order.
    with transaction.atomic():
        for n in range(300):
            record_audit(f"test.thing_{n % 30:02d}", actor="tester")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_auditrecord")
        cursor.execute("SET LOCAL enable_seqscan = off")
        form = AuditFilterForm({"action": "test.thing_07"})

        plan = _filtered_audit(form)[:51].explain()

    assert "audit_action_idx" in plan
    assert {record.action for record in _filtered_audit(form)} == {"test.thing_07"}
