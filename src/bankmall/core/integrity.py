"""The registry of integrity checks that ``bankmall check`` runs.

Each app registers its checks in ``AppConfig.ready``. A check returns a list of problems, one
readable sentence each; an empty list means the check passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

IntegrityCheck = Callable[[], list[str]]

_checks: dict[str, IntegrityCheck] = {}


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    problems: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems


def register_check(name: str, check: IntegrityCheck) -> None:
    """Register ``check`` under ``name``; registering the same name twice replaces it."""
    _checks[name] = check


def registered_checks() -> list[str]:
    return sorted(_checks)


def run_checks() -> list[CheckResult]:
    """Run every registered check in name order."""
    return [CheckResult(name=name, problems=_checks[name]()) for name in sorted(_checks)]
