"""What the shared outbox costs on PostgreSQL, in round trips and milliseconds: the claim
statement (storage.outbox.SharedOutbox.claim) against today's read of a chat's due rows,
an outcome recorded on its own, counting the live senders (the pace's share, once a
second), and the alternative the share was chosen over: a shared pace row every send
updates (alone, and with 3 senders updating it at once).

    python -m bench.outbox_claims [--rounds 500]

Starts a throwaway server (tests/pg_server.py; durability off, as in the tests: a real
server adds a WAL flush to every commit, which the bucket row pays per send and the share
never does). Writes bench/results/outbox_claims.json.
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

from handlers.clock import SystemClock  # noqa: E402
from handlers.messages import Reply  # noqa: E402
from storage import outbox  # noqa: E402
from storage.claims import PgClaims  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.outbox import SharedOutbox  # noqa: E402
from tests.pg_server import throwaway_server  # noqa: E402


async def _timed(rounds: int, step: object) -> float:
    started = time.perf_counter()
    for i in range(rounds):
        await step(i)  # type: ignore[operator]
    return (time.perf_counter() - started) / rounds * 1000


async def measure(url: str, rounds: int) -> dict[str, float]:
    clock = SystemClock()
    db = await Database(url).open()
    claims = await PgClaims(url).open()
    await claims.become_sender()
    shared = await SharedOutbox(url, lambda: claims.sender_key).open()
    # History: 200 chats with 20 sent rows each (the per-chat lookups walk an index).
    async with db.transaction() as conn:
        for c in range(200):
            for n in range(20):
                await outbox.enqueue(conn, channel="telegram", chat_id=str(10_000 + c),
                                     person_id=None, priority=outbox.LIVE_REPLY,
                                     payload=Reply(f"old {n}").to_payload(), now=clock.now())
        await conn.execute("UPDATE outbox SET status = 'sent', sent_at = created_at")
    ids: list[int] = []

    async def queue(i: int) -> None:
        async with db.transaction() as conn:
            ids.append(await outbox.enqueue(
                conn, channel="telegram", chat_id=str(10_000 + i % 200), person_id=None,
                priority=outbox.LIVE_REPLY, payload=Reply(f"new {i}").to_payload(),
                now=clock.now()) or 0)

    results: dict[str, float] = {}
    results["enqueue one reply (a transaction on the writer)"] = await _timed(rounds, queue)

    async def read_due(i: int) -> None:
        async with db.read() as conn:
            await outbox.due(conn, "telegram", clock.now(), 10, str(10_000 + i % 200))

    results["today: read one chat's due rows (outbox.due)"] = await _timed(rounds, read_due)

    async def claim_one(i: int) -> None:
        got = await shared.claim("telegram", clock.now(), chats=1, page=10,
                                 chat_ids=[str(10_000 + i % 200)])
        assert got.rows, "nothing claimed"

    results["shared: claim one chat's due rows (one statement)"] = await _timed(
        min(rounds, 200), claim_one)

    async def record(i: int) -> None:
        await shared.record([ids[i]], status="sent", error=None, retry_at=None,
                            now=clock.now())

    results["shared: record one outcome (one autocommit statement)"] = await _timed(
        rounds, record)
    for i in range(rounds):  # a backlog for the rounds
        await queue(i)

    async def claim_round(i: int) -> None:
        got = await shared.claim("telegram", clock.now(), chats=16, page=10)
        await shared.release([m.id for rows in got.rows.values() for m in rows])

    results["shared: a round, claim 16 chats (+ their release)"] = await _timed(
        min(rounds, 200), claim_round)

    async def count(i: int) -> None:
        await claims.live_senders()

    results["share: count the live senders (once a second)"] = await _timed(rounds, count)
    raw = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(3)]
    await raw[0].execute("CREATE TABLE IF NOT EXISTS pace_bench (name text PRIMARY KEY,"
                         " next_at timestamptz NOT NULL)")
    await raw[0].execute("INSERT INTO pace_bench VALUES ('telegram', now())"
                         " ON CONFLICT DO NOTHING")
    bucket = ("UPDATE pace_bench SET next_at = greatest(next_at, clock_timestamp())"
              " + interval '33 ms' WHERE name = 'telegram' RETURNING next_at")

    async def take_slot(i: int) -> None:
        await raw[0].execute(bucket)

    results["bucket row: take a slot, one sender (per send)"] = await _timed(rounds, take_slot)

    async def three(conn: psycopg.AsyncConnection) -> None:  # type: ignore[type-arg]
        for _ in range(rounds):
            await conn.execute(bucket)

    started = time.perf_counter()
    await asyncio.gather(*(three(c) for c in raw))
    results["bucket row: take a slot, 3 senders at once (per send)"] = \
        (time.perf_counter() - started) / rounds * 1000
    for c in raw:
        await c.close()
    await shared.close()
    await claims.close()
    await db.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    with throwaway_server() as server:
        with psycopg.connect(server.admin_url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE outbox_claims")
        results = asyncio.run(measure(server.url("outbox_claims"), args.rounds))
    for name, ms in results.items():
        print(f"  {name:<58} {ms:7.3f} ms")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "outbox_claims.json").write_text(json.dumps(
        {k: round(v, 3) for k, v in results.items()}, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
