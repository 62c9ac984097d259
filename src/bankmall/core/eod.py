"""The end-of-day registry: the steps that close a business date, in order.

Apps register their steps in ``AppConfig.ready`` (the ledger expires pending holds, banking
accrues interest, marks dormant accounts, runs standing orders and produces statements). The
runner in ``core.actions.run_end_of_day`` calls them once per business date in ``order``, each in
its own transaction together with the record that it ran, so a crash or a failing step leaves the
steps before it done and the failed one unapplied; running end of day again resumes there.

A step is ``function(business_date, progress) -> summary``: it does the day's work for
``business_date`` only, reports progress as ``progress(done, total)``, and returns a small
summary of counts (shown by ``bankmall eod`` and in the back office). It raises a
``BankmallError`` (or any exception) to stop the end of day; nothing of its work is kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

StepProgress = Callable[[int, int], None]
StepSummary = dict[str, int | str]
StepFunction = Callable[[dt.date, StepProgress], StepSummary]


@dataclass(frozen=True, slots=True)
class EodStep:
    name: str
    order: int
    description: str
    function: StepFunction


_steps: dict[str, EodStep] = {}


def register_eod_step(name: str, function: StepFunction, *, order: int, description: str) -> None:
    """Register ``function`` as the end-of-day step ``name``; the same name again replaces it.

    ``order`` places it among the others (lower runs first; ties run in name order). Core's own
    integrity step runs at 900, after the business steps, so a day never closes unbalanced.
    """
    _steps[name] = EodStep(name=name, order=order, description=description, function=function)


def unregister_eod_step(name: str) -> None:
    """Remove a step (tests that register their own steps clean up with this)."""
    _steps.pop(name, None)


def registered_eod_steps() -> list[EodStep]:
    return sorted(_steps.values(), key=lambda step: (step.order, step.name))
