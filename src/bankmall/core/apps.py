from __future__ import annotations

import datetime as dt

from django.apps import AppConfig

from bankmall.core.eod import StepProgress, StepSummary, register_eod_step


class CoreConfig(AppConfig):
    name = "bankmall.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from bankmall.core.audit import verify_chain
        from bankmall.core.integrity import register_check

        register_check("audit_chain", lambda: verify_chain().problems)
        register_eod_step(
            "integrity_checks",
            _integrity_step,
            order=900,
            description="Run every integrity check; a failure keeps the day open.",
        )


def _integrity_step(business_date: dt.date, progress: StepProgress) -> StepSummary:
    """End-of-day step: the day closes only if every integrity check passes."""
    from bankmall.core.errors import EndOfDayFailed
    from bankmall.core.integrity import run_checks

    results = run_checks()
    progress(len(results), len(results))
    failed = [result for result in results if not result.passed]
    if failed:
        raise EndOfDayFailed(f"integrity check {failed[0].name} failed: {failed[0].problems[0]}")
    return {"checks": len(results)}
