"""The net bank's pages (included at /bank/)."""

from __future__ import annotations

from django.urls import path

from bankmall.banking import views

urlpatterns = [
    path("", views.overview, name="banking-overview"),
    path("accounts/<str:account_id>/", views.account_history, name="banking-account"),
    path(
        "accounts/<str:account_id>/statement/",
        views.statement_download,
        name="banking-statement",
    ),
    path("payees/", views.payees, name="banking-payees"),
    path("payees/<str:payee_id>/remove", views.payee_remove, name="banking-payee-remove"),
    path("cards/", views.cards, name="banking-cards"),
    path("cards/<str:card_id>/freeze", views.card_freeze, name="banking-card-freeze"),
    path("cards/<str:card_id>/limits", views.card_limits, name="banking-card-limits"),
    path("transfers/new/", views.transfer_new, name="banking-transfer-new"),
    path("transfers/confirm/<str:token>/", views.transfer_confirm, name="banking-transfer-confirm"),
    path("transfers/<str:transfer_id>/", views.transfer_receipt, name="banking-transfer-receipt"),
]
