"""What a per-person claim costs on PostgreSQL: a session advisory lock (try + unlock, the
choice in storage/claims.py) against a lease row (claimed and released in two commits).

    python -m bench.claims [--rounds 2000]

Starts a throwaway server (tests/pg_server.py; durability off, as in the tests, so the
lease row's commits are cheaper here than on a real server with fsync).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from tests.pg_server import throwaway_server  # noqa: E402


async def measure(url: str, rounds: int) -> dict[str, float]:
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=None)
    await conn.execute("CREATE TABLE IF NOT EXISTS person_lease (person_key text PRIMARY KEY,"
                       " holder text NOT NULL, until timestamptz NOT NULL)")
    started = time.perf_counter()
    for i in range(rounds):
        key = f"telegram:{i % 500}"
        await conn.execute("SELECT pg_try_advisory_lock(1, hashtext(%s))", (key,))
        await conn.execute("SELECT pg_advisory_unlock(1, hashtext(%s))", (key,))
    advisory = (time.perf_counter() - started) / rounds * 1000
    started = time.perf_counter()
    for i in range(rounds):
        key = f"telegram:{i % 500}"
        await conn.execute(
            "INSERT INTO person_lease VALUES (%s, 'me', now() + interval '30 s')"
            " ON CONFLICT (person_key) DO UPDATE SET holder = excluded.holder,"
            " until = excluded.until WHERE person_lease.until < now()"
            " OR person_lease.holder = excluded.holder", (key,))
        await conn.execute("DELETE FROM person_lease WHERE person_key = %s AND holder = 'me'",
                           (key,))
    lease = (time.perf_counter() - started) / rounds * 1000
    await conn.close()
    return {"advisory_lock_ms": round(advisory, 3), "lease_row_ms": round(lease, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    with throwaway_server() as server:
        result = asyncio.run(measure(server.admin_url, args.rounds))
    for name, value in result.items():
        print(f"  {name:<20} {value} ms per claim and release")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "claims.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
