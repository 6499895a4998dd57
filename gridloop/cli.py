"""The ``gridloop`` command: parses arguments and dispatches; the work is in gridloop.stack."""

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from gridloop.logging import configure_logging, get_logger
from gridloop.settings import Settings, get_settings
from gridloop.tracing import shutdown_tracing


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridloop",
        description="Case-closure system for grid-based community governance. "
        "Configured by environment variables (see README, 'Settings').",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "up",
        help="run everything on this machine: Temporal dev server (unless TEMPORAL_ADDRESS "
        "is set), worker and HTTP server; Ctrl-C stops",
    )
    commands.add_parser("worker", help="run only the Temporal worker")
    commands.add_parser(
        "api",
        help="run only the HTTP server (API and console) against TEMPORAL_ADDRESS (or the "
        "local dev server); workers run as `gridloop worker`",
    )
    commands.add_parser(
        "demo-case", help="drive one demo case through the whole loop (needs `gridloop up`)"
    )
    demo = commands.add_parser(
        "demo",
        help="report a few hundred realistic demo cases spread over every stage of the loop "
        "(needs `gridloop up`); repeating it with the same seed adds nothing twice",
    )
    demo.add_argument(
        "--cases", type=int, default=300, metavar="N", help="how many cases (default 300)"
    )
    demo.add_argument(
        "--seed", type=int, default=2026, help="random seed; same seed, same cases (default 2026)"
    )
    commands.add_parser(
        "rebuild-projection",
        help="recreate the read model's case rows from Temporal (needs the Temporal server)",
    )
    migrate = commands.add_parser(
        "migrate",
        help="migrate the read model to this version's schema and seed an empty one; run it "
        "once before starting replicas that have GRIDLOOP_MIGRATE_ON_START=false",
    )
    migrate.add_argument(
        "--organisation",
        type=Path,
        metavar="FILE",
        help="the county's organisation (TOML, in the format of store/seed/jiashan.toml) to "
        "seed into an empty read model (default in development: the demo county)",
    )
    reset_passwords = commands.add_parser(
        "reset-passwords",
        help="give users new random passwords and print them once",
    )
    reset_passwords.add_argument("usernames", nargs="*", metavar="USERNAME")
    reset_passwords.add_argument(
        "--demo",
        action="store_true",
        help="every active user whose password is still its username (as seeded)",
    )
    verify_ledger = commands.add_parser(
        "verify-ledger",
        help="check the hash chain of every case's events in the read model; exit code 1 if "
        "any is broken (needs only the database)",
    )
    verify_ledger.add_argument(
        "--case", dest="case_no", metavar="CASE_NO", help="check only this case"
    )
    replay = commands.add_parser(
        "replay",
        help="replay case histories against the current workflow code and report any that are "
        "not deterministic (needs the Temporal server; exit code 1 on a failure)",
    )
    replay.add_argument("case_numbers", nargs="*", metavar="CASE_NO", help="cases to replay")
    replay.add_argument(
        "--closed-from",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="also every case closed (办结) on or after this day, in GRIDLOOP_TIMEZONE",
    )
    replay.add_argument(
        "--closed-to",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="... and on or before this day (default: today)",
    )
    bench = commands.add_parser(
        "bench",
        help="measure gridloop against the raw Temporal engine on a dev server of its own and "
        "print a table (docs/performance.md)",
    )
    from bench.options import add_arguments as add_bench_arguments

    add_bench_arguments(bench)
    api_token = commands.add_parser(
        "api-token", help="long-lived API tokens for departments' own systems"
    )
    token_commands = api_token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser("create", help="issue a token (shown once)")
    create.add_argument("department", help="department code, e.g. market_supervision")
    create.add_argument("name", help="what the token is for, unique among the department's")
    token_commands.add_parser("list", help="every token, valid or revoked")
    revoke = token_commands.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("department")
    revoke.add_argument("name")
    open311_key = commands.add_parser(
        "open311-key", help="keys of Open311 clients that post service requests"
    )
    key_commands = open311_key.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    key_commands.add_parser("issue", help="issue a key (shown once)").add_argument(
        "name", help="the client it is for, e.g. fixmystreet (letters, digits, _ . -; 48 at most)"
    )
    key_commands.add_parser("list", help="every key, valid or revoked")
    key_commands.add_parser("revoke", help="revoke a key at once").add_argument("name")
    return parser


def _up(settings: Settings, args: argparse.Namespace) -> int:
    from gridloop.stack import run_up

    return asyncio.run(run_up(settings))


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from gridloop.stack import run_worker

    return asyncio.run(run_worker(settings))


def _api(settings: Settings, args: argparse.Namespace) -> int:
    from gridloop.stack import run_api

    return asyncio.run(run_api(settings))


def _demo_case(settings: Settings, args: argparse.Namespace) -> int:
    from gridloop.demo import run_demo_case

    try:
        asyncio.run(run_demo_case(settings))
    except Exception:  # noqa: BLE001 - report it through the log pipeline, then exit 1
        get_logger(__name__).exception("demo case failed")
        return 1
    return 0


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from gridloop.demo_data import run_demo

    if args.cases < 1:
        print("gridloop demo: --cases must be at least 1", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run_demo(settings, cases=args.cases, seed=args.seed))
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: run `gridloop demo --cases {args.cases} --seed {args.seed}` again "
            "to finish; nothing is reported twice",
            file=sys.stderr,
        )
        return 130


def _rebuild_projection(settings: Settings, args: argparse.Namespace) -> int:
    from gridloop.stack import run_rebuild_projection

    return asyncio.run(run_rebuild_projection(settings))


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from gridloop.migrate_cli import run_migrate

    return run_migrate(settings, args.organisation)


def _reset_passwords(settings: Settings, args: argparse.Namespace) -> int:
    from gridloop.passwords_cli import run_reset_passwords

    if not args.usernames and not args.demo:
        print("gridloop reset-passwords: name users or give --demo", file=sys.stderr)
        return 2
    return run_reset_passwords(settings, args.usernames, args.demo)


def _verify_ledger(settings: Settings, args: argparse.Namespace) -> int:
    from gridloop.ledger import run_verify_ledger

    return run_verify_ledger(settings, args.case_no)


def _replay(settings: Settings, args: argparse.Namespace) -> int:
    from gridloop.replay_cli import run_replay

    return asyncio.run(run_replay(settings, args))


def _bench(settings: Settings, args: argparse.Namespace) -> int:
    from bench.run import run_bench

    return asyncio.run(run_bench(settings, args))


def _api_token(settings: Settings, args: argparse.Namespace) -> int:
    from gridloop.tokens_cli import run_api_token

    return run_api_token(settings, args)


def _open311_key(settings: Settings, args: argparse.Namespace) -> int:
    from gridloop.open311_cli import run_open311_key

    return run_open311_key(settings, args)


_COMMANDS = {
    "up": _up,
    "worker": _worker,
    "api": _api,
    "demo": _demo,
    "demo-case": _demo_case,
    "rebuild-projection": _rebuild_projection,
    "migrate": _migrate,
    "reset-passwords": _reset_passwords,
    "verify-ledger": _verify_ledger,
    "replay": _replay,
    "bench": _bench,
    "api-token": _api_token,
    "open311-key": _open311_key,
}


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"gridloop: invalid settings in the environment:\n{exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings)
    try:
        code = _COMMANDS[args.command](settings, args)
    except KeyboardInterrupt:  # only before the stack installs its own signal handlers
        code = 130
    except Exception:  # noqa: BLE001 - log it in the configured format, then exit via _exit
        get_logger(__name__).exception(f"gridloop {args.command} crashed")
        code = 1
    _exit(code)


def _exit(code: int) -> None:
    """Flush and leave without interpreter finalization.

    Temporal's Rust runtime keeps threads that can crash CPython's finalization
    ("PyGILState_Release: thread state ... must be current", SIGSEGV/SIGABRT), turning a clean
    stop into a non-zero exit (temporalio/sdk-python#300). Everything is shut down by now.
    """
    shutdown_tracing()  # sends the spans still queued
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
