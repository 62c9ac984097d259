"""Back-office URLs of core banking (included under /backoffice/banking/)."""

from __future__ import annotations

from django.urls import path

from bankmall.backoffice import banking_views as views

urlpatterns = [
    path("customers/", views.customers, name="backoffice-banking-customers"),
    path(
        "customers/<str:customer_id>/",
        views.customer_detail,
        name="backoffice-banking-customer",
    ),
    path("kyc/", views.kyc_queue, name="backoffice-banking-kyc"),
    path("kyc/<str:customer_id>/decide", views.kyc_decide, name="backoffice-banking-kyc-decide"),
    path(
        "accounts/<str:account_id>/status",
        views.account_status,
        name="backoffice-banking-account-status",
    ),
    path(
        "accounts/<str:account_id>/limit",
        views.account_limit,
        name="backoffice-banking-account-limit",
    ),
    path("clearing/", views.clearing, name="backoffice-banking-clearing"),
    path(
        "clearing/<str:batch_id>/pain001.xml",
        views.clearing_file,
        name="backoffice-banking-clearing-file",
    ),
    path("accounts/<str:account_id>/cash", views.teller_cash, name="backoffice-banking-cash"),
]
