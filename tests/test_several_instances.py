"""Several instances on one PostgreSQL (issue 14): claims, the leader, schedules once, the
rate limits with all 3 instances sending the shared outbox, and 3 real instances behind
nginx killed at random (tests/several_instances.py). The shared outbox's claims, order
and doubts in detail: tests/test_shared_outbox.py.

A real PostgreSQL server (tests/pg_server.py) in every test: these are about PostgreSQL
only (SQLite has one process per file), and run whenever the PostgreSQL half runs."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import psycopg
import pytest

from bot import demo
from bot.intake import Intake, IntakeChannel, Received, StoredRef
from bot.leader import Leadership
from bot.scheduler import Scheduler
from handlers.clock import FixedClock
from storage import inbox
from storage.claims import PgClaims
from storage.db import Database
from tests import crash_suite, several_instances
from tests.conftest import START
from tests.servers.telegram_api import TelegramTestServer


async def _until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_claim_waits_for_an_older_update_handled_elsewhere_to_commit(
        three: list[Database]) -> None:
    """Instance A is handling a person's older update (its transaction not committed):
    instance B's claim of the newer one is refused; once A commits, B's claim succeeds."""
    a, b, _ = three
    clock = FixedClock(START)
    async with a.transaction() as conn:
        older, newer = await inbox.store(conn, "telegram", [
            inbox.NewUpdate("u/1", "p", "{}"), inbox.NewUpdate("u/2", "p", "{}")], clock.now())
    assert older is not None and newer is not None
    async with a.transaction() as conn_a:
        assert await inbox.claim(conn_a, older, clock.now())
        with pytest.raises(inbox.OlderUpdateWaiting):
            async with b.transaction() as conn_b:
                await inbox.claim(conn_b, newer, clock.now())
    async with b.transaction() as conn_b:
        assert await inbox.claim(conn_b, newer, clock.now())


async def test_an_instance_handles_the_older_update_another_instance_is_slow_with(
        three: list[Database]) -> None:
    """A stored a person's first update and is slow with it (a photo download); the second
    reaches B, whose claim is refused: B handles the first, then the second, in order, and
    A's late claim of the first is a duplicate."""
    a_db, b_db, _ = three
    clock = FixedClock(START)
    handled: list[tuple[str, str]] = []
    a_may_go, a_done = asyncio.Event(), asyncio.Event()

    def channel(name: str, db: Database) -> IntakeChannel:
        async def handle(ref: StoredRef, update: object) -> bool:
            if name == "a":
                await a_may_go.wait()  # the download A is waiting on
            async with db.transaction() as conn:
                if await inbox.claim(conn, ref.id, clock.now()):
                    handled.append((name, ref.update_key))
            if name == "a":
                a_done.set()
            return True

        async def apologize(update: object) -> None:
            raise AssertionError("nothing fails here")
        return IntakeChannel("telegram", lambda body: body, handle, apologize)

    intakes = []
    for name, db in (("a", a_db), ("b", b_db)):
        intake = Intake(db, clock, await PgClaims(str(db.url)).open())  # type: ignore[attr-defined]
        intake.add_channel(channel(name, db))
        await intake.start()
        intakes.append(intake)
    try:
        await intakes[0].accept("telegram", [Received("u/1", "p", "{}", {})])
        await intakes[1].accept("telegram", [Received("u/2", "p", "{}", {})])
        await _until(lambda: _count(handled, 2))
        assert handled == [("b", "u/1"), ("b", "u/2")]
        a_may_go.set()
        await asyncio.wait_for(a_done.wait(), 10)
        assert handled == [("b", "u/1"), ("b", "u/2")]  # A's claim found it handled
        async with a_db.read() as conn:
            assert await inbox.pending(conn) == []
    finally:
        for intake in intakes:
            await intake.stop()
            await intake.claims.close()


async def test_the_leader_fails_over_when_its_session_ends(pg_url: str) -> None:
    claims = [await PgClaims(pg_url).open() for _ in range(3)]
    elected: list[int] = []
    deposed: list[int] = []

    def hooks(i: int) -> tuple[object, object]:
        async def up() -> None:
            elected.append(i)

        async def down() -> None:
            deposed.append(i)
        return up, down

    leaders = [Leadership(c, *hooks(i), try_seconds=0.2)  # type: ignore[arg-type]
               for i, c in enumerate(claims)]
    try:
        for leader in leaders:
            await leader.start()
        assert elected == [0] and [x.leading for x in leaders] == [True, False, False]
        # The leader's connection is cut from the server side (as when its host dies).
        pid = claims[0]._conn.info.backend_pid  # type: ignore[union-attr]
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        started = time.monotonic()
        await _until(lambda: _one_of(leaders[1:]), timeout=5)
        assert time.monotonic() - started < 3.0
        await _until(lambda: _true(not leaders[0].leading))
        assert deposed == [0] and sum(x.leading for x in leaders) == 1
    finally:
        for leader in leaders:
            await leader.stop()
        for c in claims:
            await c.close()


async def _one_of(leaders: list[Leadership]) -> bool:
    return any(x.leading for x in leaders)


async def _true(value: bool) -> bool:
    return value


@pytest.fixture
async def three(pg_url: str) -> AsyncIterator[list[Database]]:
    dbs = [await Database(pg_url).open() for _ in range(3)]
    yield dbs
    for db in dbs:
        await db.close()


async def test_updates_stored_by_different_instances_are_handled_once_in_order(
        three: list[Database]) -> None:
    """Each person's updates arrive at instances in turn (as a balancer spreads them);
    each is handled once, in the order stored, by whichever instance claims it first
    (instances handle each other's rows when a claim finds an older one waiting), while
    the handling takes turns with the event loop."""
    clock = FixedClock(START)
    handled: list[tuple[int, str, str]] = []

    def channel(instance: int, db: Database) -> IntakeChannel:
        async def handle(ref: StoredRef, update: object) -> bool:
            await asyncio.sleep(0.002)  # a network call in the middle (a photo download)
            async with db.transaction() as conn:
                if await inbox.claim(conn, ref.id, clock.now()):  # as the engine does
                    # in the claiming transaction: the order the claims committed in
                    handled.append((instance, ref.update_key.split("/")[0], ref.update_key))
                    await asyncio.sleep(0.002)  # the conversation's statements
            return True

        async def apologize(update: object) -> None:
            raise AssertionError("nothing fails here")
        return IntakeChannel("telegram", lambda body: body, handle, apologize)

    intakes = []
    for i, db in enumerate(three):
        claims = await PgClaims(str(db.url)).open()  # type: ignore[attr-defined]
        intake = Intake(db, clock, claims)
        intake.add_channel(channel(i, db))
        await intake.start()
        intakes.append(intake)
    people, per_person = 12, 8
    try:
        for n in range(per_person):
            await asyncio.gather(*(
                intakes[(p + n) % 3].accept("telegram", [Received(
                    f"p{p}/{n:02d}", f"p{p}", "{}", {})]) for p in range(people)))
        await _until(lambda: _count(handled, people * per_person))
        for p in range(people):
            keys = [key for _, person, key in handled if person == f"p{p}"]
            assert keys == [f"p{p}/{n:02d}" for n in range(per_person)]  # once each, in order
        assert len({instance for instance, _, _ in handled}) > 1  # shared between instances
    finally:
        for intake in intakes:
            await intake.stop()
            await intake.claims.close()


async def _count(handled: list[object], n: int) -> bool:
    assert len(handled) <= n
    return len(handled) == n


async def test_a_schedule_fires_once_with_three_instances(three: list[Database]) -> None:
    clock = FixedClock(START)
    async with three[0].transaction() as conn:
        await demo.seed(conn, clock.now())
    planners = [Scheduler(db, clock) for db in three]
    await planners[0].run_due()  # each kind gets its first time
    async with three[0].read() as conn:
        cur = await conn.execute("SELECT MIN(next_run_at) FROM schedules WHERE enabled = 1")
        first = (await cur.fetchone())[0]
    from storage.timestamps import from_db

    clock.set(from_db(first) + timedelta(seconds=1))
    results = await asyncio.gather(*(p.run_due() for p in planners))
    fired = [kind for result in results for kind in result]
    assert fired and len(fired) == len(set(fired))  # each due kind planned by one instance
    async with three[0].read() as conn:
        cur = await conn.execute("SELECT batch, COUNT(*) FROM outbox WHERE batch LIKE"
                                 " 'reminder:%' GROUP BY batch")
        counts = {r[0]: r[1] for r in await cur.fetchall()}
    planned = {kind: n for result in results for kind, n in result.items() if n}
    assert counts == {f"reminder:{kind}": n for kind, n in planned.items()}


@pytest.mark.timeout(300)
async def test_three_instances_behind_nginx_killed_at_random_lose_and_double_nothing(
        pg_url: str, tmp_path: Path) -> None:
    kills = int(os.environ.get("CERCAP_INSTANCE_KILLS", "8"))
    report = await several_instances.run(kills, tmp_path, pg_url, instances=3,
                                         telegram_people=2, line_people=2)
    assert report.kills == kills and report.starts == kills + 3
    assert several_instances.problems(report) == [], report


async def _answered(tg: TelegramTestServer, user_id: int, before: int, timeout: float
                    ) -> float:
    started = time.monotonic()
    while len(tg.sent_messages(user_id)) <= before:
        assert time.monotonic() - started < timeout, "no answer"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.mark.timeout(180)
async def test_one_instance_polls_telegram_and_another_takes_over_after_a_kill(
        pg_url: str, tmp_path: Path) -> None:
    async with TelegramTestServer(token=crash_suite.TG_TOKEN) as tg, \
            several_instances.Instances(3, tmp_path, pg_url, tg) as group:
        leader = await group.leader()
        await tg.wait_for_poll()
        for _ in range(20):  # exactly one consumer of getUpdates at any moment
            assert tg.waiting_polls <= 1
            await asyncio.sleep(0.05)
        tg.push_update(tg.text_update(7001, "/start"))
        await _answered(tg, 7001, 0, timeout=20)
        leader.kill()
        killed = time.monotonic()
        seen = len(tg.sent_messages(7001))
        tg.push_update(tg.text_update(7001, "/start"))
        await _answered(tg, 7001, seen, timeout=20)
        took_over = time.monotonic() - killed
        successor = await group.leader()
        assert successor is not leader
        assert took_over < 10.0, took_over  # within seconds (leader.TRY_SECONDS tries)
        assert tg.waiting_polls <= 1


async def _sent_by(port: int) -> int:
    """How many outbox messages this instance sent (its /metrics)."""
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("cercap_outbox_sends_total{") and 'result="sent"' in line)


@pytest.mark.timeout(180)
async def test_rate_limits_hold_for_three_instances_together(pg_url: str,
                                                             tmp_path: Path) -> None:
    """Bulk messages queued while 3 instances run, every one of them sending (the shared
    outbox): counted at the Telegram test server, never more than 30 a second overall,
    nor two within a second to one chat, nor two within 3 s to one group, though a chat
    passes from one instance to another; each message once."""
    from datetime import UTC, datetime

    from storage import outbox
    from storage.outbox import NewMessage

    chats, each, groups, each_group = 40, 3, 4, 2
    messages = [NewMessage("telegram", str(8000 + c), None, f'{{"text": "ประกาศ {n}"}}',
                           f"bulk:{c}:{n}") for n in range(each) for c in range(chats)]
    messages += [NewMessage("telegram", str(-100800 - g), None, f'{{"text": "กลุ่ม {n}"}}',
                            f"group:{g}:{n}") for n in range(each_group) for g in range(groups)]
    async with TelegramTestServer(token=crash_suite.TG_TOKEN) as tg, \
            several_instances.Instances(3, tmp_path, pg_url, tg) as group:
        async with Database(pg_url) as db, db.transaction() as conn:
            await outbox.enqueue_many(conn, messages, priority=outbox.BULK,
                                      now=datetime.now(UTC))
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_notify('cercap_outbox', '')")  # a hint, not needed

        async def all_sent() -> bool:
            return len(tg.calls_to("sendMessage")) >= len(messages)
        await _until(all_sent, timeout=60)
        by_instance = [await _sent_by(bot.port) for bot in group.bots]
    assert sum(by_instance) == len(messages)
    assert all(n > 0 for n in by_instance), by_instance  # each instance sent its share
    sends = sorted(c.at for c in tg.calls_to("sendMessage") if c.ok)
    assert len(sends) == len(messages)  # each once
    busiest = max(sum(1 for t in sends[i:] if t - start < 1.0)
                  for i, start in enumerate(sends))
    assert busiest <= 30, busiest  # 30 a second, for the three together
    by_chat: dict[str, list[float]] = {}
    for call in tg.calls_to("sendMessage"):
        by_chat.setdefault(str(call.params["chat_id"]), []).append(call.at)
    for chat, times in by_chat.items():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        if chat.startswith("-"):
            assert len(times) == each_group and min(gaps) >= 2.95, (chat, gaps)
        else:
            assert len(times) == each and min(gaps) >= 0.95, (chat, gaps)
