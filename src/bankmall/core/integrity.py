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
    """Run the schema check, then, if the schema is current, every other check in name order.

    Checks read tables that an unmigrated database lacks, so they run only on a current schema.
    """
    schema = CheckResult(name="migrations", problems=unapplied_migrations())
    if not schema.passed:
        return [schema]
    others = [name for name in sorted(_checks) if name != "migrations"]
    return [schema, *(CheckResult(name=name, problems=_checks[name]()) for name in others)]


def unapplied_migrations() -> list[str]:
    """One problem naming the unapplied migrations, if the schema is behind the code."""
    from django.db import connection  # noqa: PLC0415  (keeps this module importable early)
    from django.db.migrations.executor import MigrationExecutor  # noqa: PLC0415

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if not plan:
        return []
    names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _ in plan[:5])
    more = f" and {len(plan) - 5} more" if len(plan) > 5 else ""  # noqa: PLR2004
    return [f"{len(plan)} migrations are not applied ({names}{more}); run 'bankmall migrate'"]
