from __future__ import annotations

from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "bankmall.ledger"
    label = "ledger"
    verbose_name = "Ledger"

    def ready(self) -> None:
        from bankmall.core.eod import register_eod_step
        from bankmall.core.integrity import register_check
        from bankmall.ledger import eod
        from bankmall.ledger.queries import contents_problems, invariant_problems

        register_check("ledger_invariants", invariant_problems)
        register_check("ledger_transfer_contents", contents_problems)
        register_eod_step(
            "ledger.expire_pending",
            eod.expire_pending,
            order=100,
            description="Release the holds of pending transfers whose timeout has passed.",
        )
