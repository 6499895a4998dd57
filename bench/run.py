"""`gridloop bench`: every part in one run, on a Temporal dev server of its own."""

import argparse
import logging
import os
import platform
import socket
import tempfile
from pathlib import Path

from bench.app import run_intake, run_lifecycle, run_memory, run_replay, running_gridloop
from bench.engine import run_engine
from bench.measure import Report, Stopwatch
from bench.options import sizes_from
from bench.readmodel import run_read_model
from gridloop.devserver import EmbeddedTemporal
from gridloop.logging import install_temporal_runtime
from gridloop.search_attributes import SEARCH_ATTRIBUTE_TYPES
from gridloop.settings import Settings
from gridloop.temporal import connect
from store.db import database_url


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def run_bench(settings: Settings, args: argparse.Namespace) -> int:
    # Temporal Core's warnings go through logging (stderr), not onto the table on stdout.
    install_temporal_runtime(settings)
    sizes = sizes_from(args)
    # httpx and gridloop's request log log every request at INFO, alembic every migration of
    # the bench's databases: thousands of lines that would drown the table.
    for noisy in ("httpx", "gridloop.http", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    report = Report()
    print(
        f"gridloop bench on {platform.node()}: Python {platform.python_version()}, "
        f"{len(os.sched_getaffinity(0))} cores, load average "
        f"{' '.join(f'{load:.1f}' for load in os.getloadavg())}; {sizes}",
        flush=True,
    )
    total = Stopwatch()
    with tempfile.TemporaryDirectory(prefix="gridloop-bench-") as scratch:
        directory = Path(scratch)
        server = EmbeddedTemporal(
            directory / "temporal",
            port=_free_port(),
            ui_port=0,  # headless
            search_attributes=SEARCH_ATTRIBUTE_TYPES,
        )
        async with server:
            client = await connect(server.address, server.namespace)
            engine = await run_engine(client, report, sizes.workflows, sizes.concurrency)
            async with running_gridloop(client, directory / "gridloop") as gridloop:
                reported = await run_intake(
                    gridloop, report, sizes.cases, sizes.concurrency, engine.start_rate
                )
                await run_lifecycle(
                    gridloop, report, reported, sizes.concurrency, engine.signal_rate
                )
                await run_replay(client, report, [case["case_no"] for case in reported])
                if sizes.open_cases:
                    await run_memory(gridloop, report, sizes.open_cases, sizes.concurrency)
        run_read_model(
            report,
            # postgresql:// URLs get the psycopg driver, as DATABASE_URL does.
            database_url(args.database_url, directory / "read-model"),
            sizes.rows,
            sizes.repeats,
            scratch=args.database_url is None,
        )
    print(
        f"\n{report.table()}\n\ntotal {total.seconds():.0f} s, load average "
        f"{' '.join(f'{load:.1f}' for load in os.getloadavg())}",
        flush=True,
    )
    return 0
