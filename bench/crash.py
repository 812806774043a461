"""Crash safety at scale: the bot killed with SIGKILL at random moments (200 times by
default) while people report on Telegram and LINE; see tests/crash_suite.py.

    python -m bench.crash [--kills 200]
    python -m bench.crash --postgres --instances 3 --kills 200

With --postgres, N instances share one PostgreSQL (a throwaway server, tests/pg_server.py)
behind nginx (deploy/nginx.conf), Telegram in webhook mode, a random instance killed each
time (tests/several_instances.py); results in bench/results/crash_instances.json.

Prints a table and writes bench/results/crash.json; exits 1 if anything was lost or doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import crash_suite  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--telegram-people", type=int, default=3)
    parser.add_argument("--line-people", type=int, default=3)
    parser.add_argument("--postgres", action="store_true",
                        help="several instances on one PostgreSQL behind nginx")
    parser.add_argument("--instances", type=int, default=3)
    args = parser.parse_args()
    if args.postgres:
        return several(args)
    with tempfile.TemporaryDirectory() as folder:
        report = asyncio.run(crash_suite.run(args.kills, Path(folder), args.telegram_people,
                                             args.line_people))
    confirmed = sum(len(c) for c in report.confirmed.values())
    stored = sum(len(s) for s in report.stored.values())
    mismatched = [p for p, c in report.confirmed.items() if c != set(report.stored[p])]
    ok = (not mismatched and report.pending_outbox == 0 and report.failed_outbox == 0
          and report.acknowledged_unhandled == 0 and report.inbox_left == 0
          and report.stuck == 0)
    rows = [("SIGKILLs", report.kills), ("starts", report.starts),
            ("reports confirmed to people", confirmed), ("reports stored", stored),
            ("people whose confirmed ≠ stored", len(mismatched)),
            ("replies never delivered", report.pending_outbox),
            ("deliveries failed", report.failed_outbox),
            ("inputs acknowledged to the platform (200 / confirmed)", report.acknowledged),
            ("acknowledged and never handled (lost)", report.acknowledged_unhandled),
            ("stored updates left unhandled", report.inbox_left),
            ("answers never answered (stuck people)", report.stuck),
            ("LINE webhooks redelivered (no 200: bot down)", report.redelivered),
            ("seconds", round(report.seconds, 1))]
    for name, value in rows:
        print(f"  {name:<55} {value}")
    print("OK" if ok else "LOST OR DOUBLED DATA")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "crash.json").write_text(json.dumps(dict(rows) | {"ok": ok}, indent=2) + "\n")
    return 0 if ok else 1


def several(args: argparse.Namespace) -> int:
    import psycopg

    from tests import several_instances
    from tests.pg_server import throwaway_server

    with throwaway_server() as server, tempfile.TemporaryDirectory() as folder:
        with psycopg.connect(server.admin_url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE crash")
        report = asyncio.run(several_instances.run(
            args.kills, Path(folder), server.url("crash"), args.instances,
            args.telegram_people, args.line_people))
    found = several_instances.problems(report)
    confirmed = sum(len(c) for c in report.confirmed.values())
    stored = sum(len(s) for s in report.stored.values())
    rows = [("instances", report.instances), ("SIGKILLs", report.kills),
            ("of them the leader (polling, reminders)", report.leader_kills),
            ("starts", report.starts), ("reports confirmed to people", confirmed),
            ("reports stored", stored),
            ("inputs acknowledged to the platform (200)", report.acknowledged),
            ("acknowledged and never handled (lost)", report.acknowledged_unhandled),
            ("updates handled twice", report.handled_twice),
            ("stored updates left unhandled", report.inbox_left),
            ("replies never delivered", report.pending_outbox),
            ("deliveries failed", report.failed_outbox),
            ("Telegram messages sent twice (an instance killed mid-send)", report.sent_twice),
            ("  the most one kill accounts for (bound: "
             f"{several_instances.twice_per_kill_bound(report)})", report.most_twice_per_kill),
            ("  with no kill in between", report.twice_without_kill),
            ("LINE rows delivered twice (reply and push)", report.line_sent_twice),
            ("chats with messages out of order", report.out_of_order),
            ("answers never answered (stuck people)", report.stuck),
            ("webhooks delivered again (no 200: instance died)", report.redelivered),
            ("seconds", round(report.seconds, 1))]
    for name, value in rows:
        print(f"  {name:<55} {value}")
    for problem in found:
        print(f"  PROBLEM: {problem}")
    print("OK" if not found else "LOST, DOUBLED OR OUT OF ORDER")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "crash_instances.json").write_text(
        json.dumps(dict(rows) | {"ok": not found, "problems": found}, indent=2) + "\n")
    return 0 if not found else 1


if __name__ == "__main__":
    sys.exit(main())
