"""The shared outbox (issue 14): several senders on one PostgreSQL, each row claimed
before it is sent (storage.outbox.SharedOutbox). Real PostgreSQL, real PTB and LINE SDK
clients against the test servers; the senders are OutboxSenders in this process, each with
its own database connections, claim session and sender lock, as instances have.

- a chat is claimed whole: one sender at a time, the others get nothing of it;
- two senders sending one chat's backlog at once keep its order, never overlap;
- a killed sender's leased rows are free again as soon as its session ends (in doubt),
  and a lease that lapsed frees them too;
- a LINE push in doubt goes again with its retry key (409: counted as sent), a LINE reply
  in doubt whose token LINE refuses counts as sent: each delivered once;
- the live senders are counted, an older leader pauses them.
(Three real instances behind the balancer: tests/test_several_instances.py.)"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration
from telegram.ext import Application

from bot import outbox_sender
from bot.line_channel import LineSender
from bot.outbox_sender import OutboxSender, SendOutcome
from bot.telegram_channel import TelegramSender
from handlers.clock import SystemClock
from handlers.engine import Engine
from handlers.messages import Incoming, Reply
from storage import outbox
from storage.claims import LEADER_LOCKS, PgClaims
from storage.db import Database
from storage.outbox import Claimed, OutboxMessage, SharedOutbox
from tests.conftest import LINE_TOKEN
from tests.servers.line_api import LineTestServer
from tests.servers.telegram_api import TelegramTestServer

LINE_USER = "U" + "6" * 32


@dataclass
class Node:
    """One instance's sending half: its database, claim session, shared outbox, sender."""

    name: str
    db: Database
    claims: PgClaims
    shared: SharedOutbox
    sender: OutboxSender
    task: asyncio.Task[None] | None = None

    async def kill(self) -> None:
        """As SIGKILL does to an instance: its sessions end, nothing is recorded."""
        if self.task is not None:
            self.task.cancel()
        await self.claims.close()
        await self.shared.close()


async def _node(name: str, url: str, *senders: object) -> Node:
    db = await Database(url).open()
    claims = await PgClaims(url).open()
    await claims.become_sender()
    shared = await SharedOutbox(url, lambda: claims.sender_key).open()
    sender = OutboxSender(db, list(senders), SystemClock())  # type: ignore[arg-type]
    sender.share(shared, claims)
    return Node(name, db, claims, shared, sender)


@pytest.fixture
async def line_api(line: LineTestServer) -> AsyncIterator[AsyncMessagingApi]:
    client = AsyncApiClient(Configuration(host=line.origin, access_token=LINE_TOKEN))
    yield AsyncMessagingApi(client)
    await client.close()


async def _queue(db: Database, chat_id: str, texts: list[str], channel: str = "telegram",
                 reply_token: str | None = None) -> list[int]:
    ids = []
    async with db.transaction() as conn:
        for text in texts:
            row = await outbox.enqueue(conn, channel=channel, chat_id=chat_id,
                                       person_id=None, priority=outbox.LIVE_REPLY,
                                       payload=Reply(text).to_payload(),
                                       now=SystemClock().now(), reply_token=reply_token)
            assert row is not None
            ids.append(row)
    return ids


async def _status(db: Database) -> dict[int, tuple[str, int | None]]:
    async with db.read() as conn, conn.execute(
            "SELECT id, status, leased_by FROM outbox") as cur:
        return {r[0]: (r[1], r[2]) for r in await cur.fetchall()}


async def _until(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_chat_is_claimed_whole_by_one_sender_and_freed_when_it_dies(
        pg_url: str, telegram_app: Application) -> None:  # type: ignore[type-arg]
    a = await _node("a", pg_url, TelegramSender(telegram_app, Path(".")))
    b = await _node("b", pg_url, TelegramSender(telegram_app, Path(".")))
    try:
        ids = await _queue(a.db, "9001", [f"m{i}" for i in range(5)])
        other = await _queue(a.db, "9002", ["other"])
        now = SystemClock().now()
        first = await a.shared.claim("telegram", now, chats=16, page=3)
        assert [m.id for m in first.rows["9001"]] == ids[:3]  # a page, in order
        assert [m.id for m in first.rows["9002"]] == other
        assert not any(m.in_doubt for rows in first.rows.values() for m in rows)
        # b gets nothing of a's chats: 9001's last two rows are not leased, but a holds
        # the chat (its first three).
        second = await b.shared.claim("telegram", now, chats=16, page=10)
        assert second.rows == {}
        # a claims again: its own rows, and the chat's next page.
        again = await a.shared.claim("telegram", now, chats=16, page=10)
        assert [m.id for m in again.rows["9001"]] == ids
        # a records two and gives the rest back: b may take the chat now.
        await a.shared.record(ids[:2], status="sent", error=None, retry_at=None, now=now)
        await a.shared.release(ids[2:] + other)
        third = await b.shared.claim("telegram", now, chats=16, page=10)
        assert [m.id for m in third.rows["9001"]] == ids[2:]
        assert not any(m.in_doubt for m in third.rows["9001"])  # given back, not in doubt
        # b dies holding them: free for a as soon as b's session is gone (its lock with
        # it; the server ends it right after the socket closes), in doubt.
        await b.kill()
        taken: list[list[OutboxMessage]] = []

        async def a_takes_them() -> bool:
            claimed = await a.shared.claim("telegram", now, chats=16, page=10)
            taken[:] = [claimed.rows.get("9001", [])]
            return bool(taken[0])
        await _until(a_takes_them, timeout=2)
        fourth = Claimed({"9001": taken[0]}, {}, contended=False)
        assert [m.id for m in fourth.rows["9001"]] == ids[2:]
        assert all(m.in_doubt for m in fourth.rows["9001"])
        # A lease that lapsed frees its rows though the sender lives on (stuck).
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("UPDATE outbox SET lease_until = now() - interval '1 second'"
                          " WHERE leased_by IS NOT NULL")
        c = await _node("c", pg_url, TelegramSender(telegram_app, Path(".")))
        try:
            fifth = await c.shared.claim("telegram", now, chats=16, page=10)
            assert [m.id for m in fifth.rows["9001"]] == ids[2:]
            assert (await c.claims.live_senders()) == (2, False)  # a and c
        finally:
            await c.kill()
    finally:
        await a.kill()
        await b.kill()
        await a.db.close()
        await b.db.close()


@dataclass
class Recording:
    """A sender that sends through the real one and notes who sent which row, when."""

    real: TelegramSender
    node: str
    log: list[tuple[str, int, float, float]] = field(default_factory=list)

    @property
    def channel(self) -> str:
        return self.real.channel

    @property
    def pacer(self) -> object:
        return self.real.pacer

    def is_group_chat(self, chat_id: str) -> bool:
        return self.real.is_group_chat(chat_id)

    async def send(self, message: OutboxMessage) -> SendOutcome:
        started = time.monotonic()
        await asyncio.sleep(0.003)  # a slower platform: the senders' turns interleave
        outcome = await self.real.send(message)
        self.log.append((self.node, message.id, started, time.monotonic()))
        return outcome


async def test_two_senders_sending_one_chats_backlog_keep_its_order(
        pg_url: str, tg: TelegramTestServer, telegram_app: Application,  # type: ignore[type-arg]
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_sender, "CHAT_PAGE", 2)  # the chat is free every 2 rows
    shared_log: list[tuple[str, int, float, float]] = []
    nodes = []
    for name in ("a", "b"):
        recording = Recording(TelegramSender(telegram_app, Path(".")), name, shared_log)
        nodes.append(await _node(name, pg_url, recording))
    a = nodes[0]
    count = 80
    try:
        ids = await _queue(a.db, "9100", [f"ข้อความ {i:03d}" for i in range(count)])
        for node in nodes:
            node.task = asyncio.create_task(node.sender.run())

        async def poke() -> None:
            while True:  # both try for the chat, again and again
                for node in nodes:
                    node.sender.wake([("telegram", "9100")])
                await asyncio.sleep(0.001)

        async def all_sent() -> bool:  # the server has them, and the senders recorded it
            if len(tg.sent_messages(9100)) < count or len(shared_log) < count:
                return False
            return all(s == ("sent", None) for s in (await _status(a.db)).values())
        poking = asyncio.create_task(poke())
        try:
            await _until(all_sent)
        finally:
            poking.cancel()
        assert [m["text"] for m in tg.sent_messages(9100)] == \
            [f"ข้อความ {i:03d}" for i in range(count)]  # each once, in order
        assert {node for node, *_ in shared_log} == {"a", "b"}  # both took part
        by_start = sorted(shared_log, key=lambda entry: entry[2])
        assert [row for _, row, _, _ in by_start] == ids
        for before, after in itertools.pairwise(by_start):
            assert before[3] <= after[2], (before, after)  # one send at a time, never two
        status = await _status(a.db)
        assert sorted(status) == sorted(ids)
    finally:
        for node in nodes:
            await node.kill()
            await node.db.close()


async def test_a_killed_senders_rows_are_sent_by_another_once(
        pg_url: str, tg: TelegramTestServer, telegram_app: Application  # type: ignore[type-arg]
        ) -> None:
    a = await _node("a", pg_url, TelegramSender(telegram_app, Path(".")))
    b = await _node("b", pg_url, TelegramSender(telegram_app, Path(".")))
    try:
        await _queue(a.db, "9200", ["หนึ่ง", "สอง", "สาม"])
        claimed = await a.shared.claim("telegram", SystemClock().now(), chats=16, page=10)
        assert len(claimed.rows["9200"]) == 3
        await a.kill()  # before sending any: b must not wait LEASE_SECONDS for them
        started = time.monotonic()
        b.task = asyncio.create_task(b.sender.run())
        b.sender.wake()

        async def sent() -> bool:
            return len(tg.sent_messages(9200)) >= 3
        await _until(sent, timeout=10)
        assert time.monotonic() - started < outbox.LEASE_SECONDS / 3
        assert [m["text"] for m in tg.sent_messages(9200)] == ["หนึ่ง", "สอง", "สาม"]
    finally:
        await a.kill()
        await b.kill()
        await a.db.close()
        await b.db.close()


async def test_line_rows_in_doubt_are_delivered_once(
        pg_url: str, line: LineTestServer, line_api: AsyncMessagingApi) -> None:
    """A sender sent a push and a reply, then died before recording either: the next
    sender pushes again with the same retry key (LINE answers 409: sent) and tries the
    reply's token again (LINE refuses it: it was used, sent). Each delivered once."""
    a = await _node("a", pg_url, LineSender(lambda: line_api))
    b = await _node("b", pg_url, LineSender(lambda: line_api))
    other = "U" + "7" * 32
    token = line.issue_reply_token(other)
    try:
        await _queue(a.db, LINE_USER, ["แจ้งเตือน"], channel="line")
        await _queue(a.db, other, ["คำตอบ"], channel="line", reply_token=token)
        claimed = await a.shared.claim("line", SystemClock().now(), chats=16, page=10)
        line_sender = a.sender.senders["line"]
        for rows in claimed.rows.values():
            assert await line_sender.send(rows[0]) is not None  # sent, never recorded
        assert line.delivered_texts(LINE_USER) == ["แจ้งเตือน"]
        assert line.delivered_texts(other) == ["คำตอบ"]
        await a.kill()
        b.task = asyncio.create_task(b.sender.run())
        b.sender.wake()

        async def recorded() -> bool:
            return all(s == "sent" for s, _ in (await _status(b.db)).values())
        await _until(recorded, timeout=10)
        assert line.delivered_texts(LINE_USER) == ["แจ้งเตือน"]  # once
        assert line.delivered_texts(other) == ["คำตอบ"]  # once
        pushes = line.calls_to("push")
        assert len(pushes) == 2 and pushes[1].status == 409  # the retry key held
        assert [c.status for c in line.calls_to("reply")] == [200, 400]
    finally:
        await a.kill()
        await b.kill()
        await a.db.close()
        await b.db.close()


async def test_senders_are_counted_and_an_older_leader_pauses_them(
        pg_url: str, telegram_app: Application) -> None:  # type: ignore[type-arg]
    a = await _node("a", pg_url, TelegramSender(telegram_app, Path(".")))
    b = await _node("b", pg_url, TelegramSender(telegram_app, Path(".")))
    old = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
    try:
        assert await a.claims.live_senders() == (2, False)
        assert await a.claims.try_leader()  # a new version leads: it sends too
        assert await b.claims.live_senders() == (2, False)
        await a.kill()
        # An older version leads: its session holds the leader lock and no sender lock.
        await old.execute("SELECT pg_advisory_lock(%s, 0)", (LEADER_LOCKS,))
        assert await b.claims.live_senders() == (1, True)
        b.task = asyncio.create_task(b.sender.run())

        async def paused() -> bool:
            return b.sender.paused
        await _until(paused, timeout=5)
        await _queue(b.db, "9300", ["ถึงผู้นำรุ่นเก่า"])
        assert await b.sender.deliver_due() == 0  # left to the older leader
    finally:
        await old.close()
        await a.kill()
        await b.kill()
        await a.db.close()
        await b.db.close()


async def test_a_chat_taken_over_by_another_sender_keeps_its_pace(
        pg_url: str, tg: TelegramTestServer, telegram_app: Application  # type: ignore[type-arg]
        ) -> None:
    """a sends a chat's first bulk message and gives the chat back (paced); b takes it at
    once and still waits the chat's second (RETURNING last_sent_at, Pacer.sent_ago)."""
    a = await _node("a", pg_url, TelegramSender(telegram_app, Path(".")))
    b = await _node("b", pg_url, TelegramSender(telegram_app, Path(".")))
    try:
        async with a.db.transaction() as conn:
            for n in range(2):
                await outbox.enqueue(conn, channel="telegram", chat_id="9400",
                                     person_id=None, priority=outbox.BULK,
                                     payload=Reply(f"ประกาศ {n}").to_payload(),
                                     now=SystemClock().now())
        claimed = await a.shared.claim("telegram", SystemClock().now(), chats=16, page=10)
        first, second = claimed.rows["9400"]
        assert await a.sender.senders["telegram"].send(first) is not None
        await a.shared.record([first.id], status="sent", error=None, retry_at=None,
                              now=SystemClock().now())
        await a.shared.release([second.id])
        assert await b.sender.deliver_due() == 1
        times = [c.at for c in tg.calls_to("sendMessage") if c.ok]
        assert len(times) == 2 and times[1] - times[0] >= 0.95, times
    finally:
        await a.kill()
        await b.kill()
        await a.db.close()
        await b.db.close()


async def test_only_the_first_row_of_a_reply_token_is_in_doubt_for_its_reply(
        pg_url: str, line_api: AsyncMessagingApi) -> None:
    """Rows of one reply token beyond a reply's five messages went by push: after their
    sender died, a later row's refused token says nothing (its push's retry key does)."""
    a = await _node("a", pg_url, LineSender(lambda: line_api))
    b = await _node("b", pg_url, LineSender(lambda: line_api))
    try:
        ids = await _queue(a.db, LINE_USER, ["หนึ่ง", "สอง"], channel="line",
                           reply_token="f" * 32)
        await a.shared.claim("line", SystemClock().now(), chats=16, page=10)
        await a.kill()
        taken: list[OutboxMessage] = []

        async def b_takes_them() -> bool:
            claimed = await b.shared.claim("line", SystemClock().now(), chats=16, page=10)
            taken[:] = claimed.rows.get(LINE_USER, [])
            return bool(taken)
        await _until(b_takes_them, timeout=2)
        assert [(m.id, m.in_doubt) for m in taken] == [(ids[0], True), (ids[1], False)]
    finally:
        await a.kill()
        await b.kill()
        await a.db.close()
        await b.db.close()


def _engine(node: Node, lease: object) -> Engine:
    engine = Engine(node.db, SystemClock())
    engine.reply_lease = lease  # type: ignore[assignment]
    return engine


def _hello(update_id: str) -> Incoming:
    return Incoming(channel="telegram", user_id="9500", chat_id="9500", update_id=update_id,
                    text="สวัสดี")


async def test_a_reply_is_leased_by_its_insert_and_sent_as_handed_over_without_a_claim(
        pg_url: str, tg: TelegramTestServer, telegram_app: Application  # type: ignore[type-arg]
        ) -> None:
    a = await _node("a", pg_url, TelegramSender(telegram_app, Path(".")))
    b = await _node("b", pg_url, TelegramSender(telegram_app, Path(".")))
    claimed_rows: list[int] = []
    claim = a.shared.claim

    async def claim_seen(*args: object, **kwargs: object) -> Claimed:
        result = await claim(*args, **kwargs)  # type: ignore[arg-type]
        claimed_rows.extend(m.id for rows in result.rows.values() for m in rows)
        return result
    a.shared.claim = claim_seen  # type: ignore[method-assign]
    try:
        engine = _engine(a, a.sender.reply_lease)
        engine.on_enqueued(a.sender.wake)
        a.task = asyncio.create_task(a.sender.run())
        b.task = asyncio.create_task(b.sender.run())
        await a.sender.deliver_due()  # the loop's first round is over: the next in 5 s
        await engine.handle(_hello("u1"))

        async def recorded() -> bool:
            return bool(tg.sent_messages(9500)) and all(
                s == "sent" for s, _ in (await _status(a.db)).values())
        await _until(recorded, timeout=10)
        replies = await _status(a.db)
        assert replies and not set(replies) & set(claimed_rows)  # none of them claimed
        assert len(tg.sent_messages(9500)) == len(replies)  # each sent once
    finally:
        await a.kill()
        await b.kill()
        await a.db.close()
        await b.db.close()


async def test_a_reply_leased_to_an_instance_killed_before_sending_it_is_sent_by_another(
        pg_url: str, tg: TelegramTestServer, telegram_app: Application  # type: ignore[type-arg]
        ) -> None:
    """a commits a reply leased to its sender and dies before handing it over: b cannot
    take the chat while a lives, and sends the reply, once, as soon as a is gone."""
    a = await _node("a", pg_url, TelegramSender(telegram_app, Path(".")))
    b = await _node("b", pg_url, TelegramSender(telegram_app, Path(".")))
    try:
        engine = _engine(a, lambda channel: outbox.Lease(
            a.claims.sender_key, outbox.LEASE_SECONDS, time.monotonic() + 10,
            a.claims.generation))
        await engine.handle(_hello("u2"))  # nobody is told: a "dies" at its COMMIT
        stored = await _status(a.db)
        assert stored and all(s == ("pending", a.claims.sender_key) for s in stored.values())
        held = await b.shared.claim("telegram", SystemClock().now(), chats=16, page=10)
        assert held.rows == {}  # a lives: the chat is its
        await a.kill()
        started = time.monotonic()
        b.task = asyncio.create_task(b.sender.run())

        async def sent() -> bool:
            b.sender.wake()
            return all(s == "sent" for s, _ in (await _status(b.db)).values())
        await _until(sent, timeout=10)
        assert time.monotonic() - started < outbox.LEASE_SECONDS / 3
        assert len(tg.sent_messages(9500)) == len(stored)  # each once
    finally:
        await a.kill()
        await b.kill()
        await a.db.close()
        await b.db.close()
