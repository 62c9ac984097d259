from __future__ import annotations

from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "bankmall.ledger"
    label = "ledger"
    verbose_name = "Ledger"

    def ready(self) -> None:
        from bankmall.core.integrity import register_check
        from bankmall.ledger.queries import invariant_problems

        register_check("ledger_invariants", invariant_problems)
