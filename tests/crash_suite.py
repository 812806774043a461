"""Crash safety: the real bot in a subprocess, killed with SIGKILL at random moments
while scripted people report problems on Telegram and LINE, and restarted each time.

People answer the last question they saw and never send an answer again once the
platform took it: a LINE webhook that got its 200, a Telegram update the bot confirmed
with its next getUpdates offset, must be handled without help. (A webhook that got no
200 is redelivered, as LINE does.) Afterwards:
- every acknowledged update was handled (its key is in processed_updates; the inbox is
  empty), and nobody waited in vain for an answer (no one stuck);
- every report a person saw confirmed exists, and every report that exists was
  confirmed to its reporter (exactly once each: nothing lost, nothing doubled);
- no reply is left undelivered (the outbox drains completely);
- every conversation continues where it stood (each person completes one more report).

Used by tests/test_crash_safety.py (a small count, in CI) and bench/crash.py (≥ 200).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from storage.db import Database
from tests.report_walk import next_answer
from tests.servers.line_api import DEFAULT_DESTINATION, LineTestServer
from tests.servers.telegram_api import TelegramTestServer

ROOT = Path(__file__).resolve().parent.parent
TG_TOKEN = "777:CRASH"
LINE_SECRET = "crash-secret"
LINE_TOKEN = "crash-token"
VILLAGE = "35010101"
LINE_DESTINATION = DEFAULT_DESTINATION
CONFIRMED = re.compile(r"บันทึกรายงานปัญหาแล้ว เลขที่ #(\d+)")

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Report:
    kills: int = 0
    starts: int = 0
    confirmed: dict[str, set[int]] = field(default_factory=dict)  # person -> report ids
    stored: dict[str, list[int]] = field(default_factory=dict)  # person -> report ids
    pending_outbox: int = 0
    failed_outbox: int = 0
    acknowledged: int = 0  # webhooks answered 200 / updates confirmed to Telegram
    acknowledged_unhandled: int = 0  # of those, never handled: lost
    inbox_left: int = 0  # stored updates not handled (pending or failed) at the end
    stuck: int = 0  # answers acknowledged and never answered within the patience
    redelivered: int = 0  # LINE webhooks sent again because no 200 came
    seconds: float = 0.0


class BotProcess:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env = env
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run"], cwd=ROOT, env=self.env,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as http:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the bot exited at start; see {self.log}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{self.port}/healthz") as r:
                        if r.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the bot did not start; see {self.log}")
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Person:
    """Answers the last question seen, once; then waits for the bot, however long it
    takes to come back. Only after `patience` seconds without an answer (the bot lost
    it: a failure) is the answer sent again, so that the run goes on."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.confirmed: set[int] = set()
        self.seen = 0
        self.stuck = 0
        self.texts: list[str] = []

    def received(self) -> list[str]:
        raise NotImplementedError

    async def send(self, text: str) -> None:
        raise NotImplementedError

    def next_answer(self) -> str:
        return next_answer(self.texts[-1] if self.texts else "")

    def _take_new(self) -> bool:
        new = self.received()[self.seen:]
        self.seen += len(new)
        self.texts.extend(new)
        for text in new:
            self.confirmed.update(int(n) for n in CONFIRMED.findall(text))
        return bool(new)

    async def step(self, patience: float = 30.0) -> None:
        """Answer, then wait for the bot's next message."""
        await self.send(self.next_answer())
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            if self._take_new():
                await asyncio.sleep(0.05)  # a reply may come in several messages
                self._take_new()
                return
            await asyncio.sleep(0.02)
        self.stuck += 1


class TelegramPerson(Person):
    def __init__(self, server: TelegramTestServer, user_id: int) -> None:
        super().__init__(str(user_id))
        self.server = server
        self.user_id = user_id

    def received(self) -> list[str]:
        return [m.get("text", "") for m in self.server.sent_messages(self.user_id)]

    async def send(self, text: str) -> None:
        self.server.push_update(self.server.text_update(self.user_id, text))


class LinePerson(Person):
    def __init__(self, server: LineTestServer, user_id: str, url: str) -> None:
        super().__init__(user_id)
        self.server = server
        self.url = url
        self.acknowledged: list[str] = []  # webhookEventIds answered 200
        self.redelivered = 0

    def received(self) -> list[str]:
        return [str(d["message"].get("text") or d["message"].get("altText") or "")
                for d in self.server.delivered_messages(self.name)]

    async def send(self, text: str) -> None:
        event = self.server.text_event(self.name, text)
        while True:  # LINE redelivers a webhook that got no 200
            try:
                if await self.server.post_webhook(self.url, [event], timeout=5) == 200:
                    self.acknowledged.append(event["webhookEventId"])
                    return
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            self.redelivered += 1
            event = self.server.redelivery(event)
            await asyncio.sleep(0.1)


async def seed(db_path: Path, telegram_ids: list[int], line_ids: list[str]) -> None:
    from storage import areas, people
    from storage.people import Grant

    now = datetime.now(UTC)
    async with Database(db_path) as db, db.transaction() as conn:
        await areas.add_village(conn, VILLAGE[:6], int(VILLAGE[6:]), "village")
        for channel, ids in (("telegram", [str(i) for i in telegram_ids]), ("line", line_ids)):
            for user_id in ids:
                person = await people.create_person(conn, f"{channel} {user_id}", "th", now)
                identity = await people.ensure_identity(conn, channel, user_id, user_id, now)
                await people.link_identity(conn, identity.id, person)
                await people.add_grant(conn, person, Grant("village_committee", VILLAGE),
                                       None, now)


async def run(kills: int, folder: Path, telegram_people: int = 3, line_people: int = 3,
              seed_value: int = 7) -> Report:
    rng = random.Random(seed_value)
    report = Report()
    started = time.monotonic()
    port = free_port()
    db_path = folder / "crash.db"
    telegram_ids = [5000 + i for i in range(telegram_people)]
    line_ids = [f"U{i:032d}" for i in range(line_people)]
    await seed(db_path, telegram_ids, line_ids)
    async with TelegramTestServer(token=TG_TOKEN) as tg, \
            LineTestServer(channel_secret=LINE_SECRET, access_token=LINE_TOKEN) as line:
        env = {**os.environ, "CERCAP_DB": str(db_path), "CERCAP_MEDIA_DIR": str(folder / "m"),
               "TELEGRAM_BOT_TOKEN": TG_TOKEN, "TELEGRAM_API_BASE_URL": tg.origin,
               "LINE_CHANNEL_ACCESS_TOKEN": LINE_TOKEN, "LINE_CHANNEL_SECRET": LINE_SECRET,
               "LINE_API_HOST": line.origin, "CERCAP_HTTP_HOST": "127.0.0.1",
               "CERCAP_HTTP_PORT": str(port), "CERCAP_QUIET_HOURS": "off",
               "CERCAP_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
        bot = BotProcess(env, port, folder / "bot.log")
        url = f"http://127.0.0.1:{port}/line/callback"
        persons: list[Person] = [TelegramPerson(tg, i) for i in telegram_ids]
        persons += [LinePerson(line, i, url) for i in line_ids]
        running = True

        async def act(person: Person) -> None:
            while running:
                await person.step()

        await bot.start()
        report.starts += 1
        actors = [asyncio.create_task(act(p)) for p in persons]
        try:
            for _ in range(kills):
                await asyncio.sleep(rng.uniform(0.2, 2.0))
                bot.kill()
                report.kills += 1
                await bot.start()
                report.starts += 1
        finally:
            running = False
            await asyncio.gather(*actors, return_exceptions=True)
        await finish_one_more_report(persons)
        await _drained(db_path)
        bot.stop()
        telegram_acked = [f"{TG_TOKEN.split(':')[0]}:{i}" for i in tg.confirmed_ids]
    report.seconds = time.monotonic() - started
    with sqlite3.connect(db_path) as conn:
        for person in persons:
            report.confirmed[person.name] = set(person.confirmed)
            report.stored[person.name] = [r[0] for r in conn.execute(
                "SELECT p.id FROM problems p JOIN identities i ON i.person_id = p.reporter_id"
                " WHERE i.platform_user_id = ? ORDER BY p.id", (person.name,))]
            report.stuck += person.stuck
        handled = {r[0] for r in conn.execute(  # claimed in the inbox, or without it
            "SELECT update_key FROM inbox WHERE status = 'handled'"
            " UNION ALL SELECT update_id FROM processed_updates")}
        acknowledged = list(telegram_acked)
        for person in persons:
            if isinstance(person, LinePerson):
                acknowledged += [f"{LINE_DESTINATION}:{e}" for e in person.acknowledged]
                report.redelivered += person.redelivered
        report.acknowledged = len(acknowledged)
        report.acknowledged_unhandled = sum(1 for key in acknowledged if key not in handled)
        report.inbox_left = conn.execute(
            "SELECT COUNT(*) FROM inbox WHERE status != 'handled'").fetchone()[0]
        report.pending_outbox = conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
        report.failed_outbox = conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE status = 'failed'").fetchone()[0]
    return report


async def finish_one_more_report(persons: list[Person]) -> None:
    """After the last restart, everyone finishes one more report."""
    for person in persons:
        before = set(person.confirmed)
        for _ in range(40):
            await person.step()
            if person.confirmed - before:
                break


async def _drained(db_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(db_path) as conn:
            waiting = conn.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'"
                                   ).fetchone()[0]
            waiting += conn.execute("SELECT COUNT(*) FROM inbox WHERE status = 'pending'"
                                    ).fetchone()[0]
            if not waiting:
                return
        await asyncio.sleep(0.1)
