"""Delivery under faults, through the real platform SDKs and the local test servers:
429, 5xx and timeouts end in exactly one message; pending rows survive a restart; bulk
sends never hold up a live reply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import line_channel
from bot.config import Settings
from bot.service import Service
from handlers.messages import Reply
from storage import outbox
from storage.outbox import NewMessage
from tests.conftest import eventually
from tests.servers.line_api import LineTestServer
from tests.servers.telegram_api import TelegramTestServer
from tests.test_line_channel import SECRET
from tests.test_line_channel import TOKEN as LINE_TOKEN
from tests.test_line_channel import Person as LinePerson
from tests.test_telegram_channel import settings_for


def _line_settings(db_path: Path, server: LineTestServer, media: Path) -> Settings:
    return Settings(db_path=db_path, media_dir=media, telegram_token=None,
                    telegram_bot_username=None, log_level="INFO", http_host="127.0.0.1",
                    http_port=0, line_access_token=LINE_TOKEN, line_channel_secret=SECRET,
                    line_api_host=server.origin)


async def _texts_once(server: TelegramTestServer, chat: int) -> list[str]:
    texts = [m["text"] for m in server.sent_messages(chat)]
    assert len(texts) == len(set(texts)), f"a message was doubled: {texts}"
    return texts


async def test_telegram_5xx_then_success_delivers_once(seeded_db_path: Path,
                                                       tg: TelegramTestServer,
                                                       tmp_path: Path) -> None:
    tg.fail_next("sendMessage", 500)
    async with Service(settings_for(seeded_db_path, tg, tmp_path / "m")):
        await tg.wait_for_poll()
        tg.push_update(tg.text_update(8001, "/start"))
        await tg.wait_for(lambda calls: tg.sent_messages(8001), timeout=10)
    assert [c.status for c in tg.calls_to("sendMessage")][:1] == [500]
    (text,) = await _texts_once(tg, 8001)  # the greeting above the code question, once
    assert "รหัสเชิญ" in text


async def test_telegram_timeout_then_success_delivers_once(
        seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path) -> None:
    tg.stall_next("sendMessage")
    # A short request timeout, so the stalled call gives up quickly.
    settings = settings_for(seeded_db_path, tg, tmp_path / "m", telegram_request_timeout=0.5)
    async with Service(settings):
        await tg.wait_for_poll()
        tg.push_update(tg.text_update(8002, "/start"))
        await tg.wait_for(lambda calls: tg.sent_messages(8002), timeout=10)
    (text,) = await _texts_once(tg, 8002)
    assert "รหัสเชิญ" in text


async def test_a_blocked_person_stops_receiving(seeded_db_path: Path, tg: TelegramTestServer,
                                                tmp_path: Path) -> None:
    tg.block_user(8003)
    async with Service(settings_for(seeded_db_path, tg, tmp_path / "m")) as service:
        await tg.wait_for_poll()
        tg.push_update(tg.text_update(8003, "/start"))

        async def inactive() -> bool:
            async with service.app.db.read() as conn, conn.execute(
                    "SELECT active FROM identities WHERE platform_user_id = '8003'") as cur:
                row = await cur.fetchone()
            return row is not None and row[0] == 0

        await eventually(inactive, what="the blocked identity marked inactive")
    assert tg.sent_messages(8003) == []


async def test_line_429_then_success_delivers_once(seeded_db_path: Path,
                                                   line: LineTestServer,
                                                   tmp_path: Path) -> None:
    line.reject_reply_tokens = True
    line.fail_next("push", 429)
    async with Service(_line_settings(seeded_db_path, line, tmp_path / "m")) as service:
        person = LinePerson(service, line, "U" + "9" * 32)
        assert await line.post_webhook(person.url, [line.text_event(person.user_id, "hi")]) == 200
        await line.wait_for(lambda: person.messages(), timeout=10, what="the retried push")
    assert [c.status for c in line.calls_to("push")] == [429, 200]
    (message,) = person.messages()  # the greeting above the question, once
    assert "รหัสเชิญ" in message["text"]


async def test_line_timeout_after_acceptance_is_not_delivered_twice(
        seeded_db_path: Path, line: LineTestServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(line_channel, "TIMEOUT", 0.5)
    line.reject_reply_tokens = True
    line.hold_answer_next("push")
    async with Service(_line_settings(seeded_db_path, line, tmp_path / "m")) as service:
        person = LinePerson(service, line, "U" + "8" * 32)
        assert await line.post_webhook(person.url, [line.text_event(person.user_id, "hi")]) == 200
        await line.wait_for(lambda: len(line.calls_to("push")) >= 2, timeout=10,
                            what="the retried push")
    pushes = line.calls_to("push")
    assert [c.status for c in pushes][:2] == [200, 409]  # the retry key caught the repeat
    assert pushes[0].headers["X-Line-Retry-Key"] == pushes[1].headers["X-Line-Retry-Key"]
    assert len(person.messages()) == 1


async def test_pending_rows_are_delivered_once_after_a_restart(
        seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path) -> None:
    settings = settings_for(seeded_db_path, tg, tmp_path / "m")
    async with Service(settings, background=False) as before_crash, \
            before_crash.app.db.transaction() as conn:
        await outbox.enqueue_many(conn, [
                NewMessage("telegram", str(9000 + i), None,
                           json.dumps(Reply(f"ข้อความ {i}").to_payload()),
                           f"restart-test:{i}") for i in range(5)],
                priority=outbox.NOTIFICATION, now=before_crash.app.clock.now())
    assert tg.sent_messages() == []
    async with Service(settings):
        await tg.wait_for(lambda calls: len(tg.sent_messages()) >= 5, timeout=10)
    assert sorted(m["text"] for m in tg.sent_messages()) == [f"ข้อความ {i}" for i in range(5)]


async def test_bulk_to_a_thousand_does_not_hold_up_a_live_reply(
        seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path) -> None:
    async with Service(settings_for(seeded_db_path, tg, tmp_path / "m")) as service:
        async with service.app.db.transaction() as conn:
            await outbox.enqueue_many(conn, [
                NewMessage("telegram", str(100_000 + i), None,
                           json.dumps(Reply("⏰ เตือน").to_payload()),
                           f"bulk:{i}") for i in range(1000)],
                priority=outbox.BULK, now=service.app.clock.now())
        service.app.outbox.wake()
        await tg.wait_for(lambda calls: len(tg.sent_messages()) >= 5, timeout=10)
        await tg.wait_for_poll()
        tg.push_update(tg.text_update(8004, "/start"))
        await tg.wait_for(lambda calls: tg.sent_messages(8004), timeout=10)
        bulk_sent = sum(1 for m in tg.sent_messages() if m["text"] == "⏰ เตือน")
    # The reply left while the bulk was still going out, paced at 30 a second.
    assert 5 <= bulk_sent < 1000


async def test_a_reply_is_never_split_at_a_rounds_limit(seeded_db_path: Path,
                                                        line: LineTestServer,
                                                        tmp_path: Path) -> None:
    """"Saved" and the menu share one LINE reply token: a round that could take only the
    first would answer with it and then have to push the second."""
    first, second = "U" + "1" * 32, "U" + "2" * 32
    token = line.issue_reply_token(second, second)
    async with Service(_line_settings(seeded_db_path, line, tmp_path / "m"),
                       background=False) as service:
        async with service.app.db.transaction() as conn:
            now = service.app.clock.now()
            for chat, text, reply_token in ((first, "ก", None), (first, "ข", None),
                                            (second, "บันทึกแล้ว", token),
                                            (second, "เมนู", token)):
                await outbox.enqueue(conn, channel="line", chat_id=chat, person_id=None,
                                     priority=outbox.LIVE_REPLY,
                                     payload=Reply(text).to_payload(), now=now,
                                     reply_token=reply_token)
        assert await service.app.outbox.deliver_due(limit=3) == 2  # the first chat's two
        assert await service.app.outbox.deliver_due(limit=3) == 2
    replies = [c for c in line.calls_to("reply") if c.json["replyToken"] == token]
    assert [c.status for c in replies] == [200]
    assert [m["text"] for m in replies[0].json["messages"]] == ["บันทึกแล้ว", "เมนู"]
    assert not line.calls_to("push") or all(c.json["to"] == first
                                            for c in line.calls_to("push"))


async def test_a_new_reply_waits_behind_an_earlier_one_in_backoff(
        seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path) -> None:
    """The greeting fails with a 500 and waits for its retry; the person writes again at
    once: the answer to that comes after the greeting, never before it."""
    tg.fail_next("sendMessage", 500)
    async with Service(settings_for(seeded_db_path, tg, tmp_path / "m")):
        await tg.wait_for_poll()
        tg.push_update(tg.text_update(8011, "/start"))
        await tg.wait_for(lambda calls: tg.calls_to("sendMessage"), timeout=10)
        tg.push_update(tg.text_update(8011, "ZZZ999"))  # a code that does not exist
        await tg.wait_for(lambda calls: len(tg.sent_messages(8011)) >= 2, timeout=15)
    (failed, *_) = tg.calls_to("sendMessage")
    first, second = await _texts_once(tg, 8011)
    assert first == failed.params["text"], "the greeting was overtaken by a later reply"
    assert "รหัสเชิญ" in first and second != first
