"""Durable intake: what the platform was told we received is stored first and handled from
the store — after a crash, while the database is locked, in each person's order — and
what is signed but malformed, or comes from strangers, is refused or kept out."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import Settings
from bot.media_files import safe_name
from bot.service import Service
from handlers import invites
from handlers.clock import SystemClock
from handlers.permissions import Role
from storage.db import Database
from storage.inbox import HANDLED_KEYS
from tests.conftest import LINE_SECRET, LINE_TOKEN, TELEGRAM_TOKEN, line_settings
from tests.crash_suite import BotProcess, free_port
from tests.servers.line_api import LineTestServer, redelivery
from tests.servers.telegram_api import TelegramTestServer

LEADER = "U" + "a" * 32
STRANGER = "U" + "e" * 32
VILLAGE_2 = "35010102"


async def issue_code(db_path: Path, role: Role, area: str) -> str:
    async with Database(db_path) as db, db.transaction() as conn:
        invite = await invites.issue(conn, issuer_id=None, issuer_grants=[], role=role,
                                     area_code=area, now=SystemClock().now(),
                                     is_admin_cli=True)
    return invite.code


def tg_settings(db_path: Path, tg: TelegramTestServer, media: Path, *, token: str = TELEGRAM_TOKEN,
                webhook: bool = False) -> Settings:
    """Polling, or a webhook on a free local port that the test server posts to."""
    port = free_port() if webhook else 0
    hook = {"telegram_webhook_url": f"http://127.0.0.1:{port}/telegram/webhook",
            "telegram_webhook_secret": "s3cret-webhook"} if webhook else {}
    return Settings(db_path=db_path, media_dir=media, telegram_token=token,
                    telegram_bot_username="cercap_test_bot", log_level="INFO",
                    telegram_api_base_url=tg.origin, http_host="127.0.0.1", http_port=port,
                    **hook)


@pytest.fixture
async def line_bot(seeded_db_path: Path, line: LineTestServer, tmp_path: Path
                   ) -> AsyncIterator[Service]:
    async with Service(line_settings(seeded_db_path, line, tmp_path / "media")) as running:
        yield running


@pytest.fixture
async def tg_bot(seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path
                 ) -> AsyncIterator[Service]:
    async with Service(tg_settings(seeded_db_path, tg, tmp_path / "media",
                                   webhook=True)) as running:
        yield running


def url(service: Service, path: str) -> str:
    return f"http://127.0.0.1:{service.web.bound_port}{path}"


async def post_signed(line: LineTestServer, target: str, body: bytes) -> int:
    async with aiohttp.ClientSession() as http, http.post(
            target, data=body, headers={"X-Line-Signature": line.sign(body),
                                        "Content-Type": "application/json"}) as response:
        return response.status


async def hold_write_lock(db_path: Path) -> sqlite3.Connection:
    """Another connection takes the write lock (waiting in a thread, so the bot's event
    loop, which may be in the middle of a write, goes on meanwhile)."""
    blocker = sqlite3.connect(db_path, isolation_level=None, timeout=10,
                              check_same_thread=False)
    await asyncio.to_thread(blocker.execute, "BEGIN IMMEDIATE")
    return blocker


async def count(db_path: Path, sql: str) -> int:
    from tests.conftest import scalar_at

    return int(await scalar_at(db_path, sql))  # type: ignore[call-overload]


async def join_on_line(line: LineTestServer, service: Service, db_path: Path) -> None:
    target = url(service, "/line/callback")
    for text in (await issue_code(db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2), "บุญมี ศรีสุข"):
        before = len(line.delivered_messages(LEADER))
        assert await line.post_webhook(target, [line.text_event(LEADER, text)]) == 200
        await line.wait_for(lambda b=before: len(line.delivered_messages(LEADER)) > b,
                            what="a reply")


def texts_to(line: LineTestServer, user: str) -> list[str]:
    return [str(m["message"].get("text") or m["message"].get("altText") or "")
            for m in line.delivered_messages(user)]


# --- malformed but authenticated bodies ------------------------------------------------------

MALFORMED_LINE_BODIES = [
    b'{"events": null}',
    b"[]",
    b'"events"',
    b"null",
    b'{"events": {}}',
    b'{"events": [5]}',
    b'{"events": ["text"]}',
    b'{"destination": 7, "events": []}',
    b'{"events": [{"type": "message", "message": "not an object", "source": 1}]}',
    b"not json at all",
]


@pytest.mark.parametrize("body", MALFORMED_LINE_BODIES)
async def test_a_signed_but_malformed_line_body_is_refused_with_400(
        line_bot: Service, line: LineTestServer, seeded_db_path: Path, body: bytes) -> None:
    assert await post_signed(line, url(line_bot, "/line/callback"), body) == 400
    assert await count(seeded_db_path, "SELECT COUNT(*) FROM inbox") == 0


async def test_an_empty_or_unknown_line_event_list_is_acknowledged(
        line_bot: Service, line: LineTestServer) -> None:
    target = url(line_bot, "/line/callback")
    assert await post_signed(line, target, b'{"destination": "U1", "events": []}') == 200
    unknown = {"type": "a-type-from-the-future", "webhookEventId": "01X", "timestamp": 1,
               "mode": "active", "source": {"type": "user", "userId": LEADER}}
    body = json.dumps({"destination": "U1", "events": [unknown]}).encode()
    assert await post_signed(line, target, body) == 200  # never refused: LINE would retry


MALFORMED_TELEGRAM_BODIES: list[Any] = [
    None, "a string", [], 5, {}, {"update_id": "7"}, {"update_id": True},
    {"update_id": -3}, {"update_id": 9, "message": "a string"},
    {"update_id": 10, "message": {"message_id": "x", "chat": 5}},
]


@pytest.mark.parametrize("body", MALFORMED_TELEGRAM_BODIES)
async def test_a_malformed_telegram_update_with_the_right_secret_is_refused_with_400(
        tg_bot: Service, tg: TelegramTestServer, seeded_db_path: Path, body: Any) -> None:
    assert await tg.deliver_to_webhook(body) == 400  # type: ignore[arg-type]
    assert await count(seeded_db_path, "SELECT COUNT(*) FROM inbox") == 0


async def test_a_body_that_is_not_json_is_refused_by_the_telegram_webhook(
        tg_bot: Service, tg: TelegramTestServer) -> None:
    async with aiohttp.ClientSession() as http, http.post(
            tg.webhook_url or "", data=b"{not json",
            headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-webhook"}) as response:
        assert response.status == 400


# --- strangers and file names --------------------------------------------------------------

async def test_photos_from_people_who_never_joined_are_not_downloaded(
        line_bot: Service, line: LineTestServer, tmp_path: Path) -> None:
    target = url(line_bot, "/line/callback")
    photo = line.image_event(STRANGER, "490001", data=b"\xff\xd8" + b"x" * 1000)
    assert await line.post_webhook(target, [photo]) == 200
    await line.wait_for(lambda: line.delivered_messages(STRANGER), what="an answer")
    assert "รหัสเชิญ" in "\n".join(texts_to(line, STRANGER))  # told how to join instead
    assert line.calls_to("content") == []
    assert not (tmp_path / "media").exists() or not any((tmp_path / "media").rglob("*.jpg"))


async def test_telegram_photos_from_strangers_are_not_downloaded(
        tg_bot: Service, tg: TelegramTestServer) -> None:
    assert await tg.deliver_to_webhook(tg.photo_update(7301, "stranger-photo")) == 200
    await tg.wait_for(lambda calls: tg.sent_messages(7301))
    assert tg.calls_to("getFile") == []


async def test_a_platform_id_with_dot_dot_slash_never_writes_outside_the_media_folder(
        line_bot: Service, line: LineTestServer, seeded_db_path: Path, tmp_path: Path) -> None:
    await join_on_line(line, line_bot, seeded_db_path)
    evil = "../../../escaped"
    photo = line.image_event(LEADER, evil, data=b"\xff\xd8evil")
    before = len(line.delivered_messages(LEADER))
    assert await line.post_webhook(url(line_bot, "/line/callback"), [photo]) == 200
    await line.wait_for(lambda: len(line.delivered_messages(LEADER)) > before, what="a reply")
    assert line.calls_to("content")
    written = list((tmp_path / "media").rglob("*.jpg"))
    assert [p.name for p in written] == [f"{safe_name(evil)}.jpg"]
    assert not list(tmp_path.parent.rglob("escaped*"))


def test_safe_names_keep_plain_ids_and_hash_everything_else() -> None:
    assert safe_name("AgADBAADq6cxG") == "AgADBAADq6cxG"
    for bad in ("../x", "a/b", "a\\b", "", "x" * 101, "ไทย", "a b", ".."):
        name = safe_name(bad)
        assert len(name) == 64 and name.isalnum()


# --- /healthz ---------------------------------------------------------------------------------

async def test_healthz_is_503_until_ready_then_200_with_the_backlogs(
        seeded_db_path: Path, line: LineTestServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.app import App

    warm = asyncio.Event()

    async def slow_warm_up(self: App) -> None:
        await warm.wait()

    monkeypatch.setattr(App, "warmed_up", slow_warm_up)
    port = free_port()
    service = Service(line_settings(seeded_db_path, line, tmp_path / "media", http_port=port))
    starting = asyncio.create_task(service.start())
    health = f"http://127.0.0.1:{port}/healthz"
    async with aiohttp.ClientSession() as http:
        answer = None
        while answer is None:
            try:
                async with http.get(health) as r:
                    answer = (r.status, await r.json())
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.02)
        assert answer[0] == 503 and "starting" in answer[1]["problems"]
        # A webhook is stored even now, and handled once ready.
        event = line.text_event(LEADER, "สวัสดี")
        assert await line.post_webhook(f"http://127.0.0.1:{port}/line/callback", [event]) == 200
        assert line.delivered_messages(LEADER) == []
        warm.set()
        await starting
        async with http.get(health) as r:
            body = await r.json()
            assert r.status == 200 and body["status"] == "ok"
            assert {"outbox_backlog", "oldest_unsent_seconds", "inbox_backlog",
                    "oldest_unhandled_seconds"} <= set(body)
        await line.wait_for(lambda: line.delivered_messages(LEADER), what="the stored answer")
    await service.stop()


# --- a database that cannot be written ---------------------------------------------------------

@pytest.mark.sqlite_only  # another process holding SQLite's write lock
async def test_while_the_database_cannot_be_written_nothing_is_acknowledged(
        line_bot: Service, line: LineTestServer, seeded_db_path: Path) -> None:
    target = url(line_bot, "/line/callback")
    event = line.text_event(LEADER, "สวัสดี")
    blocker = await hold_write_lock(seeded_db_path)  # as another process would
    try:
        assert await line.post_webhook(target, [event], timeout=30) == 500  # not stored
        async with aiohttp.ClientSession() as http, http.get(url(line_bot, "/healthz")) as r:
            assert r.status == 503
            assert "database not writable" in (await r.json())["problems"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert line.delivered_messages(LEADER) == []
    assert await line.post_webhook(target, [redelivery(event)]) == 200  # LINE tries again
    await line.wait_for(lambda: line.delivered_messages(LEADER), what="the answer")
    async with aiohttp.ClientSession() as http, http.get(url(line_bot, "/healthz")) as r:
        assert r.status == 200


@pytest.mark.sqlite_only  # another process holding SQLite's write lock
async def test_telegram_polling_confirms_a_batch_only_once_it_is_stored(
        seeded_db_path: Path, tg: TelegramTestServer, tmp_path: Path) -> None:
    async with Service(tg_settings(seeded_db_path, tg, tmp_path / "media")):
        await tg.wait_for_poll()
        blocker = await hold_write_lock(seeded_db_path)
        try:
            update_id = tg.push_update(tg.text_update(6262, "/start"))
            await tg.wait_for(lambda calls: any(
                c.method == "getUpdates" and c.ok and c.result for c in calls))
            # Fetched, but it cannot be stored: it is not confirmed, Telegram keeps it.
            assert update_id not in tg.confirmed_ids
            assert any(int(u["update_id"]) == update_id for u in tg.pending_updates)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await tg.wait_for(lambda calls: tg.sent_messages(6262), timeout=30)
        await tg.wait_for(lambda calls: update_id in tg.confirmed_ids, timeout=60)
    assert await count(seeded_db_path, f"SELECT COUNT(*) FROM ({HANDLED_KEYS}) AS handled") == 1


# --- one person's updates in order -------------------------------------------------------------

async def test_one_persons_updates_are_handled_in_the_order_they_came(
        line_bot: Service, line: LineTestServer, seeded_db_path: Path) -> None:
    """A photo (whose download is slow) then "เมนู": handled in that order, the photo
    starts a report and เมนู leaves it, keeping a draft. The other way round, เมนู would
    find nothing to keep."""
    await join_on_line(line, line_bot, seeded_db_path)
    target = url(line_bot, "/line/callback")
    before = len(line.delivered_messages(LEADER))
    line.hold_answer_next("content")  # the first update's work takes time
    assert await line.post_webhook(target, [line.image_event(LEADER, "491001",
                                                             data=b"\xff\xd8a")]) == 200
    await line.wait_for(lambda: line.calls_to("content"), what="the photo download")
    assert await line.post_webhook(target, [line.text_event(LEADER, "เมนู")]) == 200
    with pytest.raises(TimeoutError):  # the second waits behind the first
        await line.wait_for(lambda: len(line.delivered_messages(LEADER)) > before,
                            timeout=0.5, what="(nothing yet)")
    line.release_held()

    def answers() -> str:
        return "\n".join(json.dumps(d["message"], ensure_ascii=False)
                         for d in line.delivered_messages(LEADER)[before:])

    await line.wait_for(lambda: "เก็บร่างไว้ให้แล้ว" in answers(), timeout=10,
                        what="เมนู keeping the draft of the report the photo started")


# --- dedupe scoped to the bot ------------------------------------------------------------------

async def test_a_new_bot_token_with_the_same_update_ids_is_not_swallowed(
        seeded_db_path: Path, tmp_path: Path) -> None:
    for token in (TELEGRAM_TOKEN, "999999:ANOTHER-BOT"):
        async with TelegramTestServer(token=token) as server, Service(
                tg_settings(seeded_db_path, server, tmp_path / "media", token=token,
                            webhook=True)):
                update = server.text_update(7401, "/start")
                update["update_id"] = 1  # both bots' first update
                assert await server.deliver_to_webhook(update) == 200
                await server.wait_for(lambda calls, s=server: s.sent_messages(7401))
    assert await count(seeded_db_path, f"SELECT COUNT(*) FROM ({HANDLED_KEYS}) AS handled") == 2


# --- a kill between storing and handling (the real process) -------------------------------------

async def test_an_update_stored_but_not_handled_when_killed_is_handled_after_restart(
        seeded_db_path: Path, line: LineTestServer, tmp_path: Path) -> None:
    port = free_port()
    env = {**__import__("os").environ, "CERCAP_DB": str(seeded_db_path),
           "CERCAP_MEDIA_DIR": str(tmp_path / "media"), "LINE_CHANNEL_ACCESS_TOKEN": LINE_TOKEN,
           "LINE_CHANNEL_SECRET": LINE_SECRET, "LINE_API_HOST": line.origin,
           "CERCAP_HTTP_HOST": "127.0.0.1", "CERCAP_HTTP_PORT": str(port),
           "CERCAP_QUIET_HOURS": "off", "CERCAP_LOG_LEVEL": "WARNING"}
    bot = BotProcess(env, port, tmp_path / "bot.log")
    await bot.start()
    try:
        target = f"http://127.0.0.1:{port}/line/callback"
        code = await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2)
        for text in (code, "บุญมี ศรีสุข"):
            before = len(line.delivered_messages(LEADER))
            assert await line.post_webhook(target, [line.text_event(LEADER, text)]) == 200
            await line.wait_for(lambda b=before: len(line.delivered_messages(LEADER)) > b,
                                what="a reply")
        before = len(line.delivered_messages(LEADER))
        line.hold_answer_next("content")
        photo = line.image_event(LEADER, "492001", data=b"\xff\xd8kill")
        assert await line.post_webhook(target, [photo]) == 200  # acknowledged
        await line.wait_for(lambda: line.calls_to("content"), what="handling under way")
        assert bot.process is not None
        bot.process.send_signal(signal.SIGKILL)
        bot.process.wait()
        line.release_held()
        assert await count(seeded_db_path,
                           "SELECT COUNT(*) FROM inbox WHERE status = 'pending'") == 1  # stored
        await bot.start()
        await line.wait_for(lambda: len(line.delivered_messages(LEADER)) > before,
                            timeout=15, what="the answer after the restart")
        assert await count(seeded_db_path,
                           "SELECT COUNT(*) FROM inbox WHERE status != 'handled'") == 0
        assert await count(
            seeded_db_path,
            f"SELECT COUNT(*) FROM ({HANDLED_KEYS}) AS handled WHERE update_id LIKE "
            f"'%{photo['webhookEventId']}'") == 1
    finally:
        bot.stop()
