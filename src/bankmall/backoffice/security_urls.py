"""Back-office URLs of the security pages (included under /backoffice/)."""

from __future__ import annotations

from django.urls import path

from bankmall.backoffice import security_views as views

urlpatterns = [
    path("approvals/", views.approvals, name="backoffice-approvals"),
    path("approvals/<str:request_id>/", views.approval_detail, name="backoffice-approval"),
    path(
        "approvals/<str:request_id>/decide",
        views.approval_decide,
        name="backoffice-approval-decide",
    ),
    path("staff/", views.staff, name="backoffice-staff"),
    path("staff/propose-role", views.propose_role_grant, name="backoffice-propose-role"),
    path("staff/propose-erasure", views.propose_erasure, name="backoffice-propose-erasure"),
    path("audit/", views.audit_log, name="backoffice-audit"),
    path("audit/export.jsonl", views.audit_export, name="backoffice-audit-export"),
]
