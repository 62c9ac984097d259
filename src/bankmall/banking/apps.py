from __future__ import annotations

from django.apps import AppConfig


class BankingConfig(AppConfig):
    name = "bankmall.banking"
    label = "banking"
    verbose_name = "Core banking"
