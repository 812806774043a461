"""`cercap-bot db copy --from SQLITE_PATH --to postgresql://…` (storage/copy.py does it)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from storage.copy import CopyError, copy_database
from storage.db import is_server_database


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = sub.add_parser("db", help="database tools")
    dsub = db.add_subparsers(dest="db_command", required=True)
    cp = dsub.add_parser("copy", help="copy a SQLite database into PostgreSQL (stop the bot "
                         "first; every table, counts checked, safe to run again)")
    cp.add_argument("--from", dest="source", required=True, metavar="SQLITE_PATH")
    cp.add_argument("--to", dest="target", required=True, metavar="POSTGRESQL_URL")


def run(args: argparse.Namespace, say: object) -> int:
    if not is_server_database(args.target):
        raise CopyError(f"--to must be a postgresql:// URL (got {args.target.split('@')[-1]})")
    result = asyncio.run(copy_database(
        Path(args.source), args.target,
        progress=lambda table, n: say(f"{table}: {n} rows")))  # type: ignore[operator]
    total = sum(result.counts.values())
    say(f"copied {len(result.counts)} tables, {total} rows, from {args.source}; counts"  # type: ignore[operator]
        " checked")
    return 0
