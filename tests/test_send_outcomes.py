"""What the outbox does with each outcome of a send, through real senders and the local
platform servers, with a clock that moves only when told: a rendering error fails at once,
a network error is tried again with backoff, a 429's retry_after is obeyed, the last
attempt gives up for good, and a LINE reply token is used only while it is fresh."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from linebot.v3.messaging import ApiException, AsyncApiClient, AsyncMessagingApi, Configuration
from telegram.ext import Application

from bot import line_channel
from bot.line_channel import REPLY_TOKEN_TTL, LineSender
from bot.outbox_sender import MAX_ATTEMPTS, OutboxSender, backoff_seconds, is_transient
from bot.telegram_channel import TelegramSender
from handlers.clock import FixedClock
from handlers.messages import Reply
from storage import outbox
from storage.db import Database
from storage.timestamps import from_db
from tests.conftest import LINE_TOKEN, Harness
from tests.servers.line_api import LineTestServer
from tests.servers.telegram_api import TelegramTestServer

LINE_USER = "U" + "5" * 32
TELEGRAM_CHAT = 7001


async def _queue(db: Database, clock: FixedClock, channel: str, chat_id: str,
                 reply: Reply, reply_token: str | None = None) -> int:
    async with db.transaction() as conn:
        row = await outbox.enqueue(conn, channel=channel, chat_id=chat_id, person_id=None,
                                   priority=outbox.LIVE_REPLY, payload=reply.to_payload(),
                                   now=clock.now(), reply_token=reply_token)
    assert row is not None
    return row


async def _row(db: Database, row_id: int) -> dict[str, Any]:
    async with db.read() as conn, conn.execute(
            "SELECT status, attempts, next_attempt_at, last_error, retry_key FROM outbox"
            " WHERE id = ?", (row_id,)) as cur:
        row = await cur.fetchone()
    assert row is not None
    return {"status": row[0], "attempts": row[1], "next_attempt_at": from_db(row[2]),
            "last_error": row[3], "retry_key": row[4]}


# --------------------------------------------------------------------------- the senders

def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LineApis:
    """LINE API clients for the sender: the local server, or an address where nothing
    listens (connection refused). The sender asks for the client on every call, so a test
    can take the network away and give it back."""

    def __init__(self, live: AsyncMessagingApi, dead: AsyncMessagingApi) -> None:
        self.live, self.dead = live, dead
        self.current = live

    def __call__(self) -> AsyncMessagingApi:
        return self.current


@pytest.fixture
async def line_apis(line: LineTestServer) -> AsyncIterator[LineApis]:
    live = AsyncApiClient(Configuration(host=line.origin, access_token=LINE_TOKEN))
    dead = AsyncApiClient(Configuration(host=f"http://127.0.0.1:{_closed_port()}",
                                        access_token=LINE_TOKEN))
    yield LineApis(AsyncMessagingApi(live), AsyncMessagingApi(dead))
    await live.close()
    await dead.close()


def _line_sender(apis: LineApis, clock: FixedClock) -> LineSender:
    seconds: Callable[[], float] = lambda: clock.now().timestamp()  # noqa: E731
    return LineSender(apis, clock=seconds)


# --------------------------------------------------------------------------- rendering errors

@pytest.mark.parametrize(("error", "transient"), [
    (KeyError("section"), False),
    (ValueError("callback data over 64 bytes"), False),
    (TypeError("unsupported operand"), False),
    (LookupError("no area 99999999"), False),
    (FileNotFoundError(2, "No such file", "exports/x.png"), False),
    (ApiException(status=400, reason="Bad Request"), False),
    (TimeoutError(), True),
    (ConnectionRefusedError(111, "Connection refused"), True),
    (ConnectionResetError(104, "Connection reset by peer"), True),
    (OSError(101, "Network is unreachable"), True),
    (aiohttp.ServerDisconnectedError(), True),
    (aiohttp.ClientPayloadError("truncated"), True),
    (ApiException(status=429, reason="Too Many Requests"), True),
    (ApiException(status=503, reason="Service Unavailable"), True),
    (sqlite3.OperationalError("database is locked"), True),
    (sqlite3.OperationalError("no such column: x"), False),
], ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v))
def test_only_errors_that_can_pass_are_transient(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


async def test_a_rendering_error_fails_at_once_with_its_reason(console: Harness) -> None:
    await console.start("2")
    db, clock = console.db, console.clock
    # A summary of an area that does not exist: rendering raises, and always will.
    broken = Reply("", extra={"render": {"area": "99999999", "start": "2025-01-01",
                                         "end": "2025-01-10", "kind": "month",
                                         "language": "th", "section": "impact",
                                         "format": "text"}})
    bad = await _queue(db, clock, "console", "demo-core", broken)
    after = await _queue(db, clock, "console", "demo-core", Reply("ข้อความถัดไป"))

    assert await console.sender.deliver_due("console", "demo-core") == 1
    row = await _row(db, bad)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "UnknownArea" in row["last_error"] and "99999999" in row["last_error"]
    # The chat's next message did not wait for a retry round behind it.
    assert (await _row(db, after))["status"] == "sent"
    assert console.take() == "🤖 ข้อความถัดไป"

    clock.advance(timedelta(hours=1))
    assert await console.sender.deliver_due() == 0
    assert (await _row(db, bad))["attempts"] == 1  # never tried again


# --------------------------------------------------------------------------- network errors

async def test_a_refused_connection_is_retried_with_backoff(
        database: Database, clock: FixedClock, line: LineTestServer,
        line_apis: LineApis) -> None:
    sender = OutboxSender(database, [_line_sender(line_apis, clock)], clock)
    row_id = await _queue(database, clock, "line", LINE_USER, Reply("แจ้งเตือน"))
    line_apis.current = line_apis.dead
    start = clock.now()

    await sender.deliver_due()
    row = await _row(database, row_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "Connect" in row["last_error"]
    assert row["next_attempt_at"] == start + timedelta(seconds=backoff_seconds(0))

    clock.advance(timedelta(seconds=backoff_seconds(0)) - timedelta(milliseconds=1))
    await sender.deliver_due()
    assert (await _row(database, row_id))["attempts"] == 1  # not before its time

    clock.set(row["next_attempt_at"])
    await sender.deliver_due()
    row = await _row(database, row_id)
    assert (row["status"], row["attempts"]) == ("pending", 2)
    assert row["next_attempt_at"] == clock.now() + timedelta(seconds=backoff_seconds(1))
    assert backoff_seconds(1) > backoff_seconds(0)

    line_apis.current = line_apis.live  # the network is back
    clock.set(row["next_attempt_at"])
    assert await sender.deliver_due() == 1
    assert (await _row(database, row_id))["status"] == "sent"
    assert line.delivered_texts(LINE_USER) == ["แจ้งเตือน"]


async def test_a_timeout_is_retried_and_delivered_once(
        database: Database, clock: FixedClock, line: LineTestServer, line_apis: LineApis,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(line_channel, "TIMEOUT", 0.3)
    sender = OutboxSender(database, [_line_sender(line_apis, clock)], clock)
    row_id = await _queue(database, clock, "line", LINE_USER, Reply("แจ้งเตือน"))
    line.hold_answer_next("push")  # LINE takes it, the answer never comes

    await sender.deliver_due()
    row = await _row(database, row_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "Timeout" in row["last_error"]

    clock.set(row["next_attempt_at"])
    assert await sender.deliver_due() == 1
    assert [c.status for c in line.calls_to("push")] == [200, 409]  # the retry key held
    assert line.delivered_texts(LINE_USER) == ["แจ้งเตือน"]


# --------------------------------------------------------------------------- 429 and give-up

async def test_telegram_429_retry_after_is_obeyed(
        database: Database, clock: FixedClock, tg: TelegramTestServer,
        telegram_app: Application, tmp_path: Any) -> None:  # type: ignore[type-arg]
    sender = OutboxSender(database, [TelegramSender(telegram_app, tmp_path)], clock)
    row_id = await _queue(database, clock, "telegram", str(TELEGRAM_CHAT), Reply("สวัสดี"))
    tg.fail_next("sendMessage", 429, retry_after=37)
    start = clock.now()

    assert await sender.deliver_due() == 0
    row = await _row(database, row_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["next_attempt_at"] == start + timedelta(seconds=37)
    assert row["last_error"].startswith("429")

    clock.set(start + timedelta(seconds=36.999))
    assert await sender.deliver_due() == 0
    assert len(tg.calls_to("sendMessage")) == 1  # not tried before retry_after

    clock.set(start + timedelta(seconds=37))
    assert await sender.deliver_due() == 1
    assert [c.status for c in tg.calls_to("sendMessage")] == [429, 200]
    assert [m["text"] for m in tg.sent_messages(TELEGRAM_CHAT)] == ["สวัสดี"]


async def test_the_last_attempt_gives_up_for_good(
        database: Database, clock: FixedClock, tg: TelegramTestServer,
        telegram_app: Application, tmp_path: Any) -> None:  # type: ignore[type-arg]
    sender = OutboxSender(database, [TelegramSender(telegram_app, tmp_path)], clock)
    row_id = await _queue(database, clock, "telegram", str(TELEGRAM_CHAT), Reply("สวัสดี"))
    tg.fail_next("sendMessage", 502, times=MAX_ATTEMPTS + 5)

    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert await sender.deliver_due() == 0
        row = await _row(database, row_id)
        assert row["attempts"] == attempt
        expected = "failed" if attempt == MAX_ATTEMPTS else "pending"
        assert row["status"] == expected, attempt
        clock.set(max(clock.now(), row["next_attempt_at"]))
    assert "502" in row["last_error"] or "Bad Gateway" in row["last_error"]

    clock.advance(timedelta(days=1))
    assert await sender.deliver_due() == 0
    assert len(tg.calls_to("sendMessage")) == MAX_ATTEMPTS  # never tried again
    assert (await _row(database, row_id))["attempts"] == MAX_ATTEMPTS


# --------------------------------------------------------------------------- LINE reply tokens

@pytest.mark.parametrize(("age", "used"), [
    (timedelta(0), "reply"),
    (REPLY_TOKEN_TTL - timedelta(seconds=1), "reply"),
    (REPLY_TOKEN_TTL, "push"),
    (REPLY_TOKEN_TTL + timedelta(minutes=10), "push"),
], ids=["new", "just-fresh", "at-the-ttl", "stale"])
async def test_a_reply_token_is_used_only_while_fresh(
        database: Database, clock: FixedClock, line: LineTestServer, line_apis: LineApis,
        age: timedelta, used: str) -> None:
    sender = OutboxSender(database, [_line_sender(line_apis, clock)], clock)
    token = line.issue_reply_token(LINE_USER)
    created: datetime = clock.now()
    row_id = await _queue(database, clock, "line", LINE_USER, Reply("ตอบกลับ"),
                          reply_token=token)
    clock.set(created + age)

    assert await sender.deliver_due() == 1
    replies, pushes = line.calls_to("reply"), line.calls_to("push")
    if used == "reply":
        assert [c.json["replyToken"] for c in replies] == [token]
        assert pushes == []
    else:
        assert replies == []  # a stale token is not even tried
        (push,) = pushes
        assert push.headers["X-Line-Retry-Key"] == (await _row(database, row_id))["retry_key"]
        assert push.json["to"] == LINE_USER
    assert line.delivered_texts(LINE_USER) == ["ตอบกลับ"]
