from __future__ import annotations

from django.apps import AppConfig


class BankingConfig(AppConfig):
    name = "bankmall.banking"
    label = "banking"
    verbose_name = "Core banking"

    def ready(self) -> None:
        from bankmall.banking import actions, approval_actions, clearing, eod, queries, standing
        from bankmall.core.eod import register_eod_step
        from bankmall.security.privacy import register_personal_data

        approval_actions.register()
        register_personal_data(
            "banking",
            export=lambda user: queries.subject_data(user.pk),
            erase=lambda user, actor: actions.erase_customer_data(user_id=user.pk, actor=actor),
        )
        register_eod_step(
            "banking.standing_orders",
            standing.execute_due_orders,
            order=50,
            description="Execute the scheduled and standing orders due today.",
        )
        register_eod_step(
            "banking.clearing_batch",
            clearing.send_clearing_batch,
            order=100,
            description="Send the day's payments to other banks as one pain.001 file.",
        )
        register_eod_step(
            "banking.accrue_interest",
            eod.accrue_interest,
            order=200,
            description="Accrue daily interest on savings; post it at month end.",
        )
        register_eod_step(
            "banking.mark_dormant",
            eod.mark_dormant,
            order=300,
            description="Mark accounts without activity for a year dormant.",
        )
        register_eod_step(
            "banking.monthly_statements",
            eod.monthly_statements,
            order=400,
            description="Issue every account's monthly statement at month end.",
        )
