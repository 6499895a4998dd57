"""The ``gridloop`` command: parses arguments and dispatches; the work is in gridloop.stack."""

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from gridloop.logging import configure_logging, get_logger
from gridloop.settings import Settings, get_settings


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
        "demo-case", help="drive one demo case through the whole loop (needs `gridloop up`)"
    )
    commands.add_parser(
        "rebuild-projection",
        help="recreate the read model's case rows from Temporal (needs the Temporal server)",
    )
    return parser


def _up(settings: Settings) -> int:
    from gridloop.stack import run_up

    return asyncio.run(run_up(settings))


def _worker(settings: Settings) -> int:
    from gridloop.stack import run_worker

    return asyncio.run(run_worker(settings))


def _demo_case(settings: Settings) -> int:
    from gridloop.demo import run_demo_case

    try:
        asyncio.run(run_demo_case(settings))
    except Exception:  # noqa: BLE001 - report it through the log pipeline, then exit 1
        get_logger(__name__).exception("demo case failed")
        return 1
    return 0


def _rebuild_projection(settings: Settings) -> int:
    from gridloop.stack import run_rebuild_projection

    return asyncio.run(run_rebuild_projection(settings))


_COMMANDS = {
    "up": _up,
    "worker": _worker,
    "demo-case": _demo_case,
    "rebuild-projection": _rebuild_projection,
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
        code = _COMMANDS[args.command](settings)
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
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
