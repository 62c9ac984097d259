"""The ``bankmall`` command, run as a real process against a fresh data directory.

These runs always use the embedded SQLite database in a temporary data directory (the
environment's ``DATABASE_URL`` is removed), so they never touch a shared server database.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _env(**overrides: str) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DATABASE_URL",
            "BANKMALL_DATA_DIR",
            "DJANGO_SETTINGS_MODULE",
            "SECRET_KEY",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    environment.update(overrides)
    return environment


def bankmall(
    *args: str, data_dir: Path, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bankmall.cli", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=_env(**env),
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("seeded")
    result = bankmall("seed", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    return data_dir


def test_help_is_available_for_every_subcommand(tmp_path: Path) -> None:
    commands = ["demo", "serve", "migrate", "seed", "check", "eod", "createstaff", "demo-logins"]
    commands.append("audit")
    for command in commands:
        result = bankmall(command, "--help", data_dir=tmp_path)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.startswith("usage: bankmall"), command


def test_check_passes_on_a_freshly_seeded_demo(seeded_dir: Path) -> None:
    result = bankmall("check", data_dir=seeded_dir)

    assert result.returncode == 0, result.stderr
    assert "audit_chain: ok" in result.stdout
    assert "migrations: ok" in result.stdout


def test_check_fails_on_an_unmigrated_database(tmp_path: Path) -> None:
    result = bankmall("check", data_dir=tmp_path)

    assert result.returncode == 1
    assert result.stderr.startswith("bankmall: error: integrity check migrations failed: ")
    assert result.stderr.endswith("run 'bankmall migrate'\n")


def test_seed_runs_once_and_a_second_run_changes_nothing(seeded_dir: Path) -> None:
    before = (seeded_dir / "demo-logins.json").read_text()

    result = bankmall("seed", data_dir=seeded_dir)

    assert result.returncode == 0, result.stderr
    assert "already seeded" in result.stdout
    assert (seeded_dir / "demo-logins.json").read_text() == before


def test_demo_logins_json_lists_role_username_password_and_totp(seeded_dir: Path) -> None:
    result = bankmall("demo-logins", "--json", data_dir=seeded_dir)

    logins = json.loads(result.stdout)
    assert result.returncode == 0
    assert {"role", "username", "password", "totp_secret"} <= set(logins[0])
    assert {login["role"] for login in logins} == {
        "administrator",
        "teller",
        "kyc_reviewer",
        "risk_analyst",
        "settlement_officer",
        "dispute_arbitrator",
        "marketing_manager",
        "auditor",
        "customer",
        "merchant",
    }
    assert all(len(login["totp_secret"]) == 32 for login in logins)
    assert oct((seeded_dir / "demo-logins.json").stat().st_mode & 0o777) == "0o600"


def test_createstaff_reads_the_password_from_stdin(seeded_dir: Path) -> None:
    result = bankmall(
        "createstaff",
        "--username",
        "teller.wang",
        "--password-stdin",
        data_dir=seeded_dir,
        stdin="a-long-enough-passphrase\n",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("created staff user teller.wang (usr_")


def test_createstaff_with_a_weak_password_fails_on_one_line_and_creates_nothing(
    seeded_dir: Path,
) -> None:
    result = bankmall(
        "createstaff",
        "--username",
        "weak.one",
        "--password-stdin",
        data_dir=seeded_dir,
        stdin="123\n",
    )
    with sqlite3.connect(seeded_dir / "bankmall.sqlite3") as db:
        (count,) = db.execute(
            "SELECT count(*) FROM security_user WHERE username = 'weak.one'"
        ).fetchone()

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("bankmall: error: password")
    assert count == 0


def test_a_usage_error_exits_2(tmp_path: Path) -> None:
    result = bankmall("demo", "--port", "99999", data_dir=tmp_path)

    assert result.returncode == 2
    assert "port must be 1-65535" in result.stderr


def test_check_fails_with_one_line_after_an_audit_row_is_tampered_with(tmp_path: Path) -> None:
    assert bankmall("seed", data_dir=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "bankmall.sqlite3") as db:
        db.execute("UPDATE core_auditrecord SET actor = 'mallory' WHERE sequence = 1")

    result = bankmall("check", data_dir=tmp_path)

    assert result.returncode == 1
    assert result.stderr == (
        "bankmall: error: integrity check audit_chain failed: "
        "audit record #1 was altered (hash mismatch)\n"
    )


def test_audit_export_refuses_a_malformed_cursor_with_one_line(tmp_path: Path) -> None:
    result = bankmall("audit", "export", "--after", "1:x", data_dir=tmp_path)

    assert result.returncode == 1
    assert result.stderr == "bankmall: error: --after: '1:x' is not LANE:SEQUENCE\n"


def test_production_mode_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    result = bankmall(
        "check", data_dir=tmp_path, BANKMALL_ENV="production", ALLOWED_HOSTS="bank.example"
    )

    assert result.returncode == 1
    assert result.stderr == (
        "bankmall: error: ImproperlyConfigured: "
        "SECRET_KEY must be set when BANKMALL_ENV=production\n"
    )
    assert not (tmp_path / "secret_key").exists()


def test_production_mode_passes_djangos_deploy_checks(tmp_path: Path) -> None:
    result = bankmall(
        "manage",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        data_dir=tmp_path,
        BANKMALL_ENV="production",
        SECRET_KEY="x" * 20 + "-a-long-random-production-secret-key-0123456789",
        ALLOWED_HOSTS="bank.example",
        FIELD_ENCRYPTION_KEYS="k1:" + "A" * 43,
        FIELD_ENCRYPTION_ACTIVE_KEY="k1",
        BLIND_INDEX_KEY="B" * 43,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_mode_fails_the_deploy_checks_without_field_keys(tmp_path: Path) -> None:
    result = bankmall(
        "manage",
        "check",
        "--deploy",
        data_dir=tmp_path,
        BANKMALL_ENV="production",
        SECRET_KEY="x" * 20 + "-a-long-random-production-secret-key-0123456789",
        ALLOWED_HOSTS="bank.example",
    )

    assert result.returncode == 1
    assert "bankmall.security.E001" in result.stderr


def test_development_mode_generates_and_keeps_a_private_secret_key(tmp_path: Path) -> None:
    bankmall("check", data_dir=tmp_path)
    first = (tmp_path / "secret_key").read_text()
    bankmall("check", data_dir=tmp_path)

    assert (tmp_path / "secret_key").read_text() == first
    assert len(first) >= 50
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_seed_refuses_production(tmp_path: Path) -> None:
    result = bankmall(
        "seed",
        data_dir=tmp_path,
        BANKMALL_ENV="production",
        SECRET_KEY="y" * 60,
        ALLOWED_HOSTS="bank.example",
    )

    assert result.returncode == 1
    assert result.stderr == (
        "bankmall: error: Refusing to seed demo data with BANKMALL_ENV=production\n"
    )


def test_eod_closes_business_dates_and_a_repeat_changes_nothing(seeded_dir: Path) -> None:
    first = bankmall("eod", "--date", "2099-01-02", data_dir=seeded_dir)
    # The demo's first business date is today, so this would close decades: refused.
    assert first.returncode == 1
    assert first.stderr.startswith("bankmall: error: refusing to close")
    assert first.stderr.count("\n") == 1

    today = bankmall("eod", data_dir=seeded_dir)
    assert today.returncode == 0, today.stderr
    assert "integrity_checks" in today.stdout
    closed = today.stdout.split("closed business date ")[1].split()[0]

    again = bankmall("eod", "--date", closed, data_dir=seeded_dir)
    assert again.returncode == 0, again.stderr
    assert f"business date {closed} is already closed; nothing to do" in again.stdout


def test_eod_rejects_a_malformed_date(tmp_path: Path) -> None:
    result = bankmall("eod", "--date", "2026-13-01", data_dir=tmp_path)

    assert result.returncode == 2
    assert "not a date (YYYY-MM-DD): '2026-13-01'" in result.stderr


def test_a_reader_that_goes_away_ends_the_output_quietly(seeded_dir: Path) -> None:
    command = [sys.executable, "-m", "bankmall.cli", "--data-dir", str(seeded_dir)]
    with subprocess.Popen(
        [*command, "demo-logins", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    ) as producer:
        assert producer.stdout is not None
        assert producer.stderr is not None
        # The reader leaves before the command writes (it spends a second setting up Django).
        producer.stdout.close()
        errors = producer.stderr.read()
        producer.wait(timeout=120)

    assert b"Traceback" not in errors
    assert b"BrokenPipeError" not in errors


@pytest.mark.parametrize(
    ("arguments", "stdin", "field"),
    [
        (("--username", "guard\x01wang"), "a-long-enough-passphrase\n", "username"),
        (("--username", "guard\nwang"), "a-long-enough-passphrase\n", "username"),
        (
            ("--username", "guard.li", "--email", "li@example.com\x7f"),
            "a-long-passphrase\n",
            "email",
        ),
        (("--username", "guard.li"), "a-long-enough\x00passphrase\n", "password"),
    ],
)
def test_createstaff_refuses_control_characters_on_one_line_and_creates_nothing(
    seeded_dir: Path, arguments: tuple[str, ...], stdin: str, field: str
) -> None:
    result = bankmall(
        "createstaff", *arguments, "--password-stdin", data_dir=seeded_dir, stdin=stdin
    )
    with sqlite3.connect(seeded_dir / "bankmall.sqlite3") as db:
        (count,) = db.execute(
            "SELECT count(*) FROM security_user WHERE username LIKE 'guard%'"
        ).fetchone()

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"bankmall: error: {field} ")
    assert count == 0


def _live_members(group: int) -> list[int]:
    """The processes of a process group that have not exited (zombies left out), read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # It exited while we looked.
        state, _parent, process_group = text.rsplit(")", 1)[1].split()[:3]
        if int(process_group) == group and state != "Z":
            members.append(int(stat.parent.name))
    return members


def _wait_until_gone(group: int, seconds: float = 5.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (members := _live_members(group)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return members


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups from /proc")
def test_a_stopped_jobs_worker_leaves_no_process_behind(tmp_path: Path) -> None:
    # `worker --beat` runs the schedule in a child process; the worker waits for it on the way
    # out, so nothing of it is left once the worker has exited (the demo's Ctrl-C relies on it).
    log_path = tmp_path / "worker.log"
    command = [sys.executable, "-m", "bankmall.cli", "--data-dir", str(tmp_path)]
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [*command, "worker", "--beat"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_env(),
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while b" ready." not in log_path.read_bytes() or len(_live_members(worker.pid)) < 2:
            assert worker.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)

        worker.terminate()
        assert worker.wait(timeout=60) == 0

        assert _live_members(worker.pid) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups from /proc")
def test_the_demo_stops_its_worker_and_any_child_the_worker_left() -> None:
    from bankmall.cli import _stop

    # A "worker" whose child ignores SIGTERM and would outlive it.
    stubborn = (
        "import signal, subprocess, sys, time;"
        "subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)']);"
        "time.sleep(120)"
    )
    worker = subprocess.Popen([sys.executable, "-c", stubborn], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while len(_live_members(worker.pid)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)

        _stop(worker)

        assert worker.returncode == -signal.SIGTERM
        assert _wait_until_gone(worker.pid) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
