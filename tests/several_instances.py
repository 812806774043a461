"""Several instances on one PostgreSQL behind a real load balancer, killed with SIGKILL at
random instants: the multi-instance form of tests/crash_suite.py.

N `python -m bot.cli run` share one PostgreSQL database; Debian's nginx runs the README's
example (deploy/nginx.conf, tests/lb.py) in front of them. Telegram people (webhook mode:
the Telegram test server posts each update to the balancer, and delivers it again until
it gets a 200) and LINE people report through the balancer. A random instance is killed
every 0.2-2 s and started again; the others keep serving. Afterwards:
- every acknowledged input was handled exactly once (its key in processed_updates; the
  inbox empty) and nobody waited in vain (no one stuck);
- every report a person saw confirmed is stored once, every stored report was confirmed;
- the outbox drained; every chat got its messages in the order they were queued (the
  Telegram test server's messages of each chat against the outbox's sent rows of that
  chat, in id order), none twice except what a kill mid-send resends. Every instance
  sends (the shared outbox), and records each outcome as soon as its response arrives,
  so a kill leaves at most the sends that instance had in flight in doubt: one per chat
  it was serving, at most outbox_sender.CHATS_IN_FLIGHT. Each doubled message must have
  a kill between its two arrivals at the test server (or just before the first: a request
  written before the kill is read after it), and no kill may account for more
  than min(Telegram chats, CHATS_IN_FLIGHT) of them (Telegram has no idempotency key;
  LINE pushes carry X-Line-Retry-Key, LINE replies in doubt are judged by their token);
- every conversation went on (each person completes one more report).

Used by tests/test_several_instances_kill.py (a small count) and
`bench/crash.py --postgres --instances 3 --kills 200`.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from bot.outbox_sender import CHATS_IN_FLIGHT
from storage.claims import LEADER_LOCKS
from tests import crash_suite
from tests.crash_suite import BotProcess, LinePerson, Person, free_port
from tests.lb import balancer
from tests.servers.line_api import LineTestServer
from tests.servers.telegram_api import TelegramTestServer

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "several-instances-secret"


@dataclass
class Report:
    instances: int = 0
    kills: int = 0
    leader_kills: int = 0  # kills of the instance that was leading (polling, sending)
    starts: int = 0
    confirmed: dict[str, set[int]] = field(default_factory=dict)
    stored: dict[str, list[int]] = field(default_factory=dict)
    acknowledged: int = 0
    acknowledged_unhandled: int = 0
    handled_twice: int = 0  # an update key claimed more than once (impossible: a key)
    inbox_left: int = 0
    pending_outbox: int = 0
    failed_outbox: int = 0
    sent_twice: int = 0  # a Telegram chat got a message again right after itself
    line_sent_twice: int = 0  # a LINE row delivered by its reply and by a push
    twice_without_kill: int = 0  # ... with no kill between the two arrivals: a bug
    most_twice_per_kill: int = 0  # the most doubles one kill accounts for
    kill_times: list[float] = field(default_factory=list)  # time.monotonic() of each kill
    doubles: list[tuple[Any, ...]] = field(default_factory=list)  # (chat, text, at, again, kills)
    telegram_chats: int = 0
    out_of_order: int = 0  # chats whose messages came in another order than queued
    stuck: int = 0
    redelivered: int = 0  # webhooks delivered again (no 200: an instance died mid-call)
    seconds: float = 0.0


class WebhookTelegramPerson(Person):
    """A Telegram user whose updates reach the bot as webhooks through the balancer."""

    def __init__(self, server: TelegramTestServer, user_id: int) -> None:
        super().__init__(str(user_id))
        self.server = server
        self.user_id = user_id
        self.acknowledged: list[int] = []
        self.redelivered = 0

    def received(self) -> list[str]:
        return [m.get("text", "") for m in self.server.sent_messages(self.user_id)]

    async def send(self, text: str) -> None:
        update = self.server.text_update(self.user_id, text)
        while True:  # Telegram delivers a webhook again until it gets a 200
            try:
                if await self.server.deliver_to_webhook(update) == 200:
                    self.acknowledged.append(int(update["update_id"]))
                    return
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            self.redelivered += 1
            await asyncio.sleep(0.1)


async def _leader_pid(url: str) -> int | None:
    """The pid of the instance holding the leader lease (its claim connection is named
    cercap-claims-<pid>)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a"
            " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.classid = %s"
            " AND l.objid = 0 AND l.granted", (LEADER_LOCKS,))
        row = await cur.fetchone()
    name = str(row[0]) if row else ""
    return int(name.rsplit("-", 1)[1]) if name.startswith("cercap-claims-") else None


async def _drained(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            cur = await conn.execute(
                "SELECT (SELECT COUNT(*) FROM outbox WHERE status = 'pending')"
                " + (SELECT COUNT(*) FROM inbox WHERE status = 'pending')")
            row = await cur.fetchone()
            if row is not None and not row[0]:
                return
            await asyncio.sleep(0.1)


def compare_chat(delivered: list[str], queued: list[str]) -> tuple[list[int], bool]:
    """(where in `delivered` a message came again right after itself, whether the rest is
    the queued sequence in its order)."""
    twice: list[int] = []
    i = 0
    for n, text in enumerate(delivered):
        if i < len(queued) and text == queued[i]:
            i += 1
        elif i > 0 and text == queued[i - 1]:
            twice.append(n)
        else:
            return twice, False
    return twice, i == len(queued)


async def run(kills: int, folder: Path, db_url: str, instances: int = 3,
              telegram_people: int = 3, line_people: int = 3, seed_value: int = 11) -> Report:
    rng = random.Random(seed_value)
    report = Report(instances=instances)
    started = time.monotonic()
    telegram_ids = [6000 + i for i in range(telegram_people)]
    line_ids = [f"U{i:032d}" for i in range(line_people)]
    await crash_suite.seed(db_url, telegram_ids, line_ids)  # type: ignore[arg-type]
    ports = [free_port() for _ in range(instances)]
    lb_port = free_port()
    async with TelegramTestServer(token=crash_suite.TG_TOKEN) as tg, \
            LineTestServer(channel_secret=crash_suite.LINE_SECRET,
                           access_token=crash_suite.LINE_TOKEN) as line:
        with balancer(lb_port, ports) as origin:
            base = {**os.environ, "CERCAP_DB": db_url, "CERCAP_MEDIA_DIR": str(folder / "m"),
                    "TELEGRAM_BOT_TOKEN": crash_suite.TG_TOKEN,
                    "TELEGRAM_API_BASE_URL": tg.origin,
                    "TELEGRAM_WEBHOOK_URL": f"{origin}/telegram/webhook",
                    "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
                    "LINE_CHANNEL_ACCESS_TOKEN": crash_suite.LINE_TOKEN,
                    "LINE_CHANNEL_SECRET": crash_suite.LINE_SECRET,
                    "LINE_API_HOST": line.origin, "CERCAP_HTTP_HOST": "127.0.0.1",
                    "CERCAP_QUIET_HOURS": "off", "CERCAP_LOG_LEVEL": "WARNING",
                    "PYTHONPATH": str(ROOT)}
            bots = [BotProcess({**base, "CERCAP_HTTP_PORT": str(port)}, port,
                               folder / f"bot{i}.log") for i, port in enumerate(ports)]
            await asyncio.gather(*(bot.start() for bot in bots))
            report.starts += instances
            persons: list[Person] = [WebhookTelegramPerson(tg, i) for i in telegram_ids]
            persons += [LinePerson(line, i, f"{origin}/line/callback") for i in line_ids]
            running = True

            async def act(person: Person) -> None:
                while running:
                    await person.step()

            actors = [asyncio.create_task(act(p)) for p in persons]
            try:
                for _ in range(kills):
                    await asyncio.sleep(rng.uniform(0.2, 2.0))
                    bot = rng.choice(bots)
                    leader = await _leader_pid(db_url)
                    if bot.process is not None and bot.process.pid == leader:
                        report.leader_kills += 1
                    report.kill_times.append(time.monotonic())
                    bot.kill()
                    report.kills += 1
                    await bot.start()
                    report.starts += 1
            finally:
                running = False
                await asyncio.gather(*actors, return_exceptions=True)
            await crash_suite.finish_one_more_report(persons)
            await _drained(db_url)
            for bot in bots:
                bot.stop()
        await _collect(report, db_url, persons, tg, line)
    report.seconds = time.monotonic() - started
    return report


async def _collect(report: Report, url: str, persons: list[Person],
                   tg: TelegramTestServer, line: LineTestServer) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        async def rows(sql: str, *params: Any) -> list[Any]:
            cur = await conn.execute(sql, params or None)
            return list(await cur.fetchall())

        handled = [r[0] for r in await rows(  # claimed in the inbox, or without it
            "SELECT update_key FROM inbox WHERE status = 'handled'"
            " UNION ALL SELECT update_id FROM processed_updates")]
        report.handled_twice = len(handled) - len(set(handled))
        handled_keys = set(handled)
        acknowledged: list[str] = []
        per_kill: dict[float, int] = {}  # doubles accounted to each kill
        bot_id = crash_suite.TG_TOKEN.split(":")[0]
        for person in persons:
            report.confirmed[person.name] = set(person.confirmed)
            report.stored[person.name] = [r[0] for r in await rows(
                "SELECT p.id FROM problems p JOIN identities i ON i.person_id = p.reporter_id"
                " WHERE i.platform_user_id = %s ORDER BY p.id", person.name)]
            report.stuck += person.stuck
            if isinstance(person, WebhookTelegramPerson):
                report.telegram_chats += 1
                acknowledged += [f"{bot_id}:{u}" for u in person.acknowledged]
                report.redelivered += person.redelivered
                queued = [json.loads(r[0])["text"] for r in await rows(
                    "SELECT payload FROM outbox WHERE channel = 'telegram' AND chat_id = %s"
                    " AND status = 'sent' ORDER BY id", person.name)]
                calls = [c for c in tg.calls if c.ok and c.method in SENDS
                         and c.params.get("chat_id") == person.user_id]
                delivered = [html.unescape(c.params.get("text", "")) for c in calls]
                twice, in_order = compare_chat(delivered, queued)
                report.sent_twice += len(twice)
                report.out_of_order += 0 if in_order else 1
                for n in twice:
                    first, again = calls[n - 1].at, calls[n].at
                    killed = [k for k in report.kill_times
                              if first - IN_FLIGHT_SLACK <= k <= again]
                    report.doubles.append((person.user_id, delivered[n][:40], first, again,
                                           [round(k - first, 3) for k in killed]))
                    if not killed:
                        report.twice_without_kill += 1
                    else:
                        per_kill[killed[0]] = per_kill.get(killed[0], 0) + 1
            elif isinstance(person, LinePerson):
                acknowledged += [f"{crash_suite.LINE_DESTINATION}:{e}"
                                 for e in person.acknowledged]
                report.redelivered += person.redelivered
        report.most_twice_per_kill = max(per_kill.values(), default=0)
        report.acknowledged = len(acknowledged)
        report.acknowledged_unhandled = sum(1 for k in acknowledged if k not in handled_keys)
        # LINE: a row delivered both by its reply token and by a push of its retry key (a
        # reply in doubt pushed again) is a double; two pushes of one key cannot be (409).
        replied = {c.json.get("replyToken") for c in line.calls_to("reply") if c.status == 200}
        pushed = {c.headers.get("X-Line-Retry-Key") for c in line.calls_to("push")
                  if c.status == 200}
        report.line_sent_twice = sum(
            1 for token, key in await rows(
                "SELECT reply_token, retry_key FROM outbox WHERE channel = 'line'"
                " AND status = 'sent' AND reply_token IS NOT NULL")
            if token in replied and key in pushed)
        report.inbox_left = (await rows(
            "SELECT COUNT(*) FROM inbox WHERE status != 'handled'"))[0][0]
        report.pending_outbox = (await rows(
            "SELECT COUNT(*) FROM outbox WHERE status = 'pending'"))[0][0]
        report.failed_outbox = (await rows(
            "SELECT COUNT(*) FROM outbox WHERE status = 'failed'"))[0][0]


SENDS = ("sendMessage", "sendPhoto", "sendDocument")  # what tg.sent_messages lists
# A request the killed instance wrote just before its kill may be read by the test server
# (in this process's busy loop) after the kill: measured up to 0.2 s later.
IN_FLIGHT_SLACK = 2.0


def twice_per_kill_bound(report: Report) -> int:
    """What one kill may double: the sends the killed instance had in flight, one per
    chat it served, at most CHATS_IN_FLIGHT."""
    return min(report.telegram_chats, CHATS_IN_FLIGHT)


def problems(report: Report) -> list[str]:
    """What went wrong, in words (empty: nothing)."""
    found = []
    for person, confirmed in report.confirmed.items():
        stored = report.stored[person]
        if len(stored) != len(set(stored)) or confirmed != set(stored):
            found.append(f"{person}: confirmed {sorted(confirmed)} stored {stored}")
        if not confirmed:
            found.append(f"{person} never completed a report")
    # A Telegram send has no idempotency key: an instance killed after Telegram took a
    # message and before its outcome was recorded leaves it in doubt, and the next sender
    # of that chat sends it again (as a single bot's restart does). Outcomes are recorded
    # as each response arrives, a chat's messages go one at a time: a kill can double at
    # most the sends in flight at that instance (module docstring).
    beyond = max(0, report.most_twice_per_kill - twice_per_kill_bound(report))
    checks = {"acknowledged and never handled": report.acknowledged_unhandled,
              "handled twice": report.handled_twice, "inbox left": report.inbox_left,
              "outbox pending": report.pending_outbox, "outbox failed": report.failed_outbox,
              "sent twice beyond the sends one instance has in flight, by one kill": beyond,
              "sent twice with no kill in between": report.twice_without_kill,
              "LINE rows delivered twice": report.line_sent_twice,
              "chats out of order": report.out_of_order, "stuck": report.stuck}
    found += [f"{name}: {value}" for name, value in checks.items() if value]
    if not report.acknowledged:
        found.append("nothing was acknowledged")
    return found


class Instances:
    """N instances of `cercap-bot run` on one database (no balancer: each on its port)."""

    def __init__(self, n: int, folder: Path, db_url: str, tg: TelegramTestServer,
                 **env: str) -> None:
        base = {**os.environ, "CERCAP_DB": db_url, "CERCAP_MEDIA_DIR": str(folder / "m"),
                "TELEGRAM_BOT_TOKEN": crash_suite.TG_TOKEN, "TELEGRAM_API_BASE_URL": tg.origin,
                "CERCAP_HTTP_HOST": "127.0.0.1", "CERCAP_QUIET_HOURS": "off",
                "CERCAP_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT), **env}
        self.db_url = db_url
        self.bots = []
        for i in range(n):
            port = free_port()
            self.bots.append(BotProcess({**base, "CERCAP_HTTP_PORT": str(port)}, port,
                                        folder / f"bot{i}.log"))

    async def __aenter__(self) -> Instances:
        await asyncio.gather(*(bot.start() for bot in self.bots))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for bot in self.bots:
            bot.stop()

    async def leader(self, timeout: float = 10.0) -> BotProcess:
        deadline = time.monotonic() + timeout
        while True:
            pid = await _leader_pid(self.db_url)
            for bot in self.bots:
                if bot.process is not None and bot.process.poll() is None \
                        and bot.process.pid == pid:
                    return bot
            if time.monotonic() > deadline:
                raise TimeoutError("no instance leads")
            await asyncio.sleep(0.05)
