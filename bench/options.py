"""The `gridloop bench` options: only argparse here, so `gridloop --help` stays fast."""

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    workflows: int
    cases: int
    open_cases: int
    rows: tuple[int, ...]
    repeats: int
    concurrency: int


QUICK = Sizes(workflows=10, cases=3, open_cases=10, rows=(1_000, 3_000), repeats=5, concurrency=8)
FULL = Sizes(
    workflows=500,
    cases=100,
    open_cases=10_000,
    rows=(10_000, 1_000_000),
    repeats=20,
    concurrency=32,
)


def _row_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(n) for n in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of counts: {text}") from None
    if any(n < 1 for n in counts):
        raise argparse.ArgumentTypeError("every row count must be at least 1")
    return counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="small sizes everywhere (well under a minute)"
    )
    parser.add_argument("--workflows", type=int, metavar="N", help="raw-engine workflows")
    parser.add_argument("--cases", type=int, metavar="N", help="cases for intake and lifecycle")
    parser.add_argument(
        "--open-cases", type=int, metavar="K", help="open cases for the memory figure"
    )
    parser.add_argument(
        "--rows",
        type=_row_counts,
        metavar="N,M",
        help="read-model sizes, e.g. 10000,1000000",
    )
    parser.add_argument("--concurrency", type=int, metavar="C", help="requests in flight")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="an EMPTY database for the read-model part (default: SQLite in a temp dir)",
    )


def sizes_from(args: argparse.Namespace) -> Sizes:
    base = QUICK if args.quick else FULL
    return Sizes(
        workflows=args.workflows or base.workflows,
        cases=args.cases or base.cases,
        open_cases=args.open_cases if args.open_cases is not None else base.open_cases,
        rows=args.rows or base.rows,
        repeats=base.repeats,
        concurrency=args.concurrency or base.concurrency,
    )
