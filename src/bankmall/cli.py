"""The ``bankmall`` command: demo, serve, migrate, seed, check, createstaff, demo-logins, audit.

Every subcommand finds its data directory from ``--data-dir`` or ``BANKMALL_DATA_DIR``
(default ``./var``). Errors print one readable line to stderr and exit non-zero: 1 for a
failed operation or check, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import getpass
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from bankmall.seed import DemoLogin

EXIT_FAILURE = 1
PORT_MAX = 65535
RELAY_INTERVAL_MAX = 3600.0
RELAY_BACKOFF_MAX_SECONDS = 30.0
WORKER_STOP_SECONDS = 15
WORKER_CHILDREN_STOP_SECONDS = 10


class CliError(Exception):
    """A failure to report on one line and exit with ``EXIT_FAILURE``."""


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 1 <= port <= PORT_MAX:
        raise argparse.ArgumentTypeError(f"port must be 1-{PORT_MAX}, not {port}")
    return port


def positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1 (also used by ``bench/``)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 < number <= RELAY_INTERVAL_MAX:
        raise argparse.ArgumentTypeError(f"must be between 0 and {RELAY_INTERVAL_MAX}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bankmall",
        description="Run and operate bankmall, a bank's own e-commerce system.",
    )
    parser.add_argument(
        "--data-dir",
        metavar="PATH",
        help="where the embedded database, secret key and demo files live "
        "(default: $BANKMALL_DATA_DIR or ./var)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo", help="migrate, seed the demo bank the first time, and serve it"
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on")
    demo.add_argument("--port", type=_port, default=8000, help="port to listen on (8000)")
    demo.set_defaults(handler=_cmd_demo)

    serve = commands.add_parser("serve", help="serve the application with gunicorn")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (8000)")
    serve.add_argument("--workers", type=positive_int, default=2, help="worker processes")
    serve.add_argument("--threads", type=positive_int, default=4, help="threads per worker")
    serve.set_defaults(handler=_cmd_serve)

    migrate = commands.add_parser("migrate", help="create or upgrade the database schema")
    migrate.set_defaults(handler=_cmd_migrate)

    seed = commands.add_parser("seed", help="fill the database with the demo bank")
    seed.add_argument(
        "--force", action="store_true", help="seed even if the demo bank was seeded before"
    )
    seed.add_argument(
        "--customers", type=positive_int, default=200, help="bank customers to create (200)"
    )
    seed.add_argument(
        "--months", type=positive_int, default=4, help="months of account history (4)"
    )
    seed.set_defaults(handler=_cmd_seed)

    check = commands.add_parser(
        "check", help="run every integrity check (audit chain, ledger invariants …)"
    )
    check.add_argument(
        "--no-record",
        action="store_true",
        help="do not record the run in the database (e.g. on a read-only replica)",
    )
    check.set_defaults(handler=_cmd_check)

    eod = commands.add_parser(
        "eod",
        help="run end of day: close the open business date (or every date up to --date)",
    )
    eod.add_argument(
        "--date",
        type=_iso_date,
        default=None,
        help="close every open business date up to this one (YYYY-MM-DD); default: the open one",
    )
    eod.set_defaults(handler=_cmd_eod)

    worker = commands.add_parser("worker", help="run background and scheduled jobs")
    worker.add_argument(
        "--beat", action="store_true", help="also run the schedule (run exactly one of these)"
    )
    worker.add_argument("--concurrency", type=positive_int, default=2, help="job threads")
    worker.set_defaults(handler=_cmd_worker)

    _add_operations_commands(commands)
    return parser


def _add_operations_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    staff = commands.add_parser("createstaff", help="create a bank staff login")
    staff.add_argument("--username", required=True)
    staff.add_argument("--email", default="")
    staff.add_argument(
        "--administrator", action="store_true", help="give every permission (superuser)"
    )
    staff.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE",
        help="a staff role (teller, kyc_reviewer, risk_analyst, settlement_officer, "
        "dispute_arbitrator, marketing_manager, auditor, administrator); repeatable",
    )
    staff.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of prompting",
    )
    staff.set_defaults(handler=_cmd_createstaff)

    logins = commands.add_parser("demo-logins", help="print the demo bank's logins")
    logins.add_argument("--json", action="store_true", help="print a JSON list")
    logins.set_defaults(handler=_cmd_demo_logins)

    audit = commands.add_parser("audit", help="verify or export the audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = audit_commands.add_parser("verify", help="check the hash chain end to end")
    verify.set_defaults(handler=_cmd_audit_verify)
    export = audit_commands.add_parser("export", help="write the log as JSON lines")
    export.add_argument(
        "--after",
        default="",
        metavar="CURSOR",
        help="LANE:SEQUENCE,… of the last records already exported (a plain number: lane 1)",
    )
    export.add_argument("--output", metavar="FILE", help="file to write (default: stdout)")
    export.set_defaults(handler=_cmd_audit_export)

    keys = commands.add_parser("keys", help="field-encryption keys: status and rotation")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    key_status = key_commands.add_parser("status", help="count encrypted values per key")
    key_status.set_defaults(handler=_cmd_keys_status)
    rotate = key_commands.add_parser(
        "rotate", help="re-encrypt every value under the active key (after adding a new one)"
    )
    rotate.add_argument(
        "--keep-key",
        action="store_true",
        help="do not add a new key; re-encrypt under the current active key "
        "(production: set FIELD_ENCRYPTION_ACTIVE_KEY first)",
    )
    rotate.add_argument("--batch", type=positive_int, default=500, help="rows per transaction")
    rotate.set_defaults(handler=_cmd_keys_rotate)

    relay = commands.add_parser(
        "relay",
        help="publish committed events (from the outbox and from audit records) to NATS"
        " JetStream until stopped",
    )
    relay.add_argument("--nats-url", help="NATS server URL (default: $NATS_URL)")
    relay.add_argument("--once", action="store_true", help="publish one batch and exit")
    relay.add_argument(
        "--batch",
        type=positive_int,
        default=100,
        help="outbox events, then audit records, per round",
    )
    relay.add_argument(
        "--interval", type=_positive_float, default=1.0, help="seconds between idle polls"
    )
    relay.set_defaults(handler=_cmd_relay)

    manage = commands.add_parser(
        "manage", help="run a Django management command (e.g. 'manage collectstatic')"
    )
    manage.add_argument("arguments", nargs=argparse.REMAINDER)
    manage.set_defaults(handler=_cmd_manage)


# ------------------------------------------------------------------ set-up


def _setup_django(data_dir: str | None) -> None:
    if data_dir is not None:
        os.environ["BANKMALL_DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankmall.settings")
    import django

    django.setup()


def _migrate(*, verbosity: int = 0) -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=verbosity)


# ------------------------------------------------------------------ commands


def _cmd_migrate(args: argparse.Namespace) -> int:
    _migrate(verbosity=1)
    return 0


def _cmd_seed(args: argparse.Namespace) -> int:
    from bankmall import seed

    _migrate()
    summary = seed.seed_demo(
        force=args.force,
        progress=_progress_printer(),
        customers=args.customers,
        months=args.months,
    )
    print(summary)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from bankmall.core.actions import run_integrity_checks
    from bankmall.core.integrity import run_checks

    if args.no_record:
        results = run_checks()
    else:
        results, _run = run_integrity_checks(actor="cli:check")
    failed = [result for result in results if not result.passed]
    for result in results:
        status = "ok" if result.passed else "FAILED"
        print(f"{result.name}: {status}")
    if failed:
        first = failed[0]
        raise CliError(f"integrity check {first.name} failed: {first.problems[0]}")
    return 0


def _cmd_eod(args: argparse.Namespace) -> int:
    from bankmall.core.actions import run_end_of_day

    report = run_end_of_day(through=args.date, actor="cli:eod", progress=_progress_printer())
    for day in report.already_closed:
        print(f"business date {day} is already closed; nothing to do")
    for day, step, outcome, summary in report.steps:
        counts = ", ".join(f"{key}={value}" for key, value in summary.items())
        print(f"{day} {step:<24} {outcome:<8} {counts}")
    for day in report.closed:
        print(f"closed business date {day}")
    print(f"open business date: {report.open_business_date}")
    return 0


def _cmd_createstaff(args: argparse.Namespace) -> int:
    from bankmall.security.actions import create_staff

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CliError("the two passwords differ")
    user = create_staff(
        username=args.username,
        email=args.email,
        password=password,
        is_administrator=args.administrator,
        roles=tuple(args.role),
        actor="cli:createstaff",
    )
    print(f"created staff user {user.username} ({user.public_id})")
    return 0


def _cmd_demo_logins(args: argparse.Namespace) -> int:
    from bankmall import seed

    logins = seed.read_demo_logins()
    if args.json:
        print(json.dumps([login.as_json() for login in logins], ensure_ascii=False, indent=2))
        return 0
    if not logins:
        raise CliError("no demo logins: run 'bankmall seed' (or 'make demo') first")
    for login in logins:
        print(_login_line(login))
    return 0


def _login_line(login: DemoLogin) -> str:
    return f"{login.role:<20} {login.username:<12} {login.password:<18} {login.totp_secret or '-'}"


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    from bankmall.core.audit import verify_chain

    report = verify_chain()
    if not report.is_intact:
        raise CliError(f"audit chain broken: {report.problems[0]}")
    print(f"audit chain intact: {report.records_checked} records")
    return 0


def _cmd_audit_export(args: argparse.Namespace) -> int:
    from bankmall.core.audit import export_lines, parse_cursor

    try:
        after = parse_cursor(args.after)
    except ValueError as error:
        raise CliError(f"--after: {error}") from None
    if args.output:
        with Path(args.output).open("w", encoding="utf-8") as handle:
            for line in export_lines(after=after):
                handle.write(line + "\n")
    else:
        for line in export_lines(after=after):
            print(line)
    return 0


def _cmd_keys_status(args: argparse.Namespace) -> int:
    from bankmall.security.rotation import key_usage

    usage = key_usage()
    print(f"active key: {usage.active_key_id}")
    for key_id, count in sorted(usage.values_per_key.items()):
        print(f"  {key_id}: {count} values")
    return 0


def _cmd_keys_rotate(args: argparse.Namespace) -> int:
    from django.conf import settings

    from bankmall.security.rotation import rotate_keys

    new_key = not args.keep_key and not settings.FIELD_ENCRYPTION_KEYS
    report = rotate_keys(new_key=new_key, batch_size=args.batch, progress=_count_printer())
    print(
        f"active key {report.new_key_id}: re-encrypted {report.rewritten} of "
        f"{report.checked} values"
    )
    return 0


def _count_printer() -> Callable[[int, int], None]:
    report = _progress_printer()
    return lambda done, total: report("re-encrypting", done, total)


def _cmd_relay(args: argparse.Namespace) -> int:
    from django.conf import settings

    from bankmall.core.relay import JetStreamPublisher, pending_count, relay_once

    url = args.nats_url or settings.NATS_URL
    if not url:
        raise CliError("no NATS server: pass --nats-url or set NATS_URL")
    publisher = JetStreamPublisher(
        url, stream=settings.NATS_STREAM, subject_prefix=settings.NATS_SUBJECT_PREFIX
    )
    stop = _stop_on_sigterm()
    published = 0
    backoff = args.interval
    try:
        while True:
            result = relay_once(publisher, batch_size=args.batch)
            published += result.published
            if result.failed_event is not None:
                if args.once:
                    raise CliError(f"publishing stopped at {result.failed_event}: {result.error}")
                backoff = min(backoff * 2, RELAY_BACKOFF_MAX_SECONDS)
            else:
                backoff = args.interval
            if args.once or stop.wait(0 if result.more else backoff):
                break
    finally:
        publisher.close()
    print(f"published {published} events; {pending_count()} waiting")
    return 0


def _stop_on_sigterm() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    return stop


def _cmd_worker(args: argparse.Namespace) -> int:
    from bankmall.jobs import app, stop_children

    arguments = ["worker", "--loglevel", "INFO", "--pool", "threads"]
    arguments += ["--concurrency", str(args.concurrency)]
    if args.beat:
        arguments.append("--beat")
    try:
        app.worker_main(arguments)  # Runs until stopped, then exits the process.
    finally:
        stop_children(WORKER_CHILDREN_STOP_SECONDS)  # The embedded schedule, if any.


def _start_demo_worker(data_dir: str) -> subprocess.Popen[bytes]:
    log_path = Path(data_dir) / "worker.log"
    with log_path.open("ab") as log:
        return subprocess.Popen(  # noqa: S603  (our own interpreter and module, fixed arguments)
            [sys.executable, "-m", "bankmall.cli", "--data-dir", data_dir, "worker", "--beat"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Stopped by _stop, with its children, not by the terminal.
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the demo's jobs worker: SIGTERM, then SIGKILL after a while, and any child it left."""
    process.terminate()
    try:
        process.wait(timeout=WORKER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    # Its own process group (start_new_session); usually empty by now, the worker having taken
    # its children with it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _cmd_manage(args: argparse.Namespace) -> int:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["bankmall manage", *args.arguments])
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from django.conf import settings

    from bankmall.server import run_server

    if settings.IS_PRODUCTION:
        from django.core.management import call_command

        call_command("collectstatic", interactive=False, verbosity=0)
    run_server(host=args.host, port=args.port, workers=args.workers, threads=args.threads)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from django.conf import settings

    from bankmall import seed
    from bankmall.server import run_server

    if settings.IS_PRODUCTION:
        raise CliError("'bankmall demo' refuses to run with BANKMALL_ENV=production")
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"bankmall demo — data in {settings.DATA_DIR} ({engine})")
    _migrate()
    if seed.is_seeded():
        print("demo bank already seeded; keeping its data")
    else:
        print(seed.seed_demo(force=False, progress=_progress_printer()))
    base = f"http://{args.host}:{args.port}"
    print()
    print(f"  Home page        {base}/")
    print(f"  API docs         {base}/api/v1/docs")
    print(f"  Health           {base}/healthz")
    print(f"  Sign in          {base}/login/")
    print(f"  Back office      {base}/backoffice/")
    print()
    print("  Demo logins (role, username, password, authenticator secret; demo data only):")
    for login in seed.read_demo_logins():
        print(f"    {_login_line(login)}")
    print()
    worker = _start_demo_worker(str(settings.DATA_DIR))
    print(f"  Jobs worker      running, log in {settings.DATA_DIR / 'worker.log'}")
    print()
    print("Press Ctrl-C to stop.")
    try:
        run_server(host=args.host, port=args.port, workers=2, threads=4)
    finally:
        _stop(worker)
    print("bankmall demo stopped.")
    return 0


def _progress_printer() -> Callable[[str, int, int], None]:
    def report(step: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        bar = "#" * filled + "-" * (width - filled)
        end = "\n" if done >= total else ""
        print(f"\r  {step:<28} [{bar}] {done}/{total}", end=end, flush=True)

    return report


# ------------------------------------------------------------------ entry point


def _fail(message: str) -> NoReturn:
    first_line = " ".join(message.split()) or "unknown error"
    print(f"bankmall: error: {first_line}", file=sys.stderr)
    sys.exit(EXIT_FAILURE)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, set up Django for the chosen data directory, run one subcommand."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        _setup_django(args.data_dir)
        return handler(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``bankmall demo-logins | head``): stop quietly. Python's own
        # flush at exit would fail again, so stdout points at /dev/null from here on.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as error:
        if os.environ.get("BANKMALL_TRACEBACK") == "1":
            raise
        _fail(_describe(error))


def _describe(error: BaseException) -> str:
    from bankmall.core.errors import BankmallError

    if isinstance(error, BankmallError):
        return error.detail
    if isinstance(error, CliError):
        return str(error)
    name = type(error).__name__
    return f"{name}: {error}" if str(error) else name


if __name__ == "__main__":
    sys.exit(main())
