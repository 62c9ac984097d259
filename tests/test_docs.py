"""The docs describe the code as it is: README commands, CLI subcommands, problem codes."""

from __future__ import annotations

import re
from pathlib import Path

from bankmall.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


def test_readme_quick_start_has_exactly_the_two_front_door_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]

    commands = re.findall(r"```sh\n(.+?)\n```", quick_start)

    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, re.MULTILINE)
    assert re.search(r"^test:", makefile, re.MULTILINE)


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")

    assert "make test" in ci
    assert "make lint" in ci


def test_every_cli_subcommand_is_named_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    subcommands = next(action for action in parser._actions if action.dest == "command").choices

    assert subcommands
    for name in subcommands:
        assert f"`{name}" in readme, name


def test_every_environment_variable_of_the_settings_is_in_the_operations_table() -> None:
    settings_source = (ROOT / "src" / "bankmall" / "settings.py").read_text(encoding="utf-8")
    operations = (ROOT / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    table = operations.split("## Settings (environment variables)", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))

    read = set(
        re.findall(
            r"(?:os\.environ\.get\(|os\.environ\[|_env_\w+\()\"([A-Z][A-Z0-9_]+)\"", settings_source
        )
    )

    assert {"BANKING_STEP_UP_AMOUNT_MINOR", "API_IDEMPOTENCY_RETENTION_DAYS"} <= read
    assert sorted(read - documented) == []
