"""Fan-out benchmark: one reminder to 75,000 village committee members.

1. Plan and enqueue: the weekly roll-call planned for 75,000 recipients in one
   transaction (target: at most 5 s on a 2-core machine), and the longest the event loop
   was held up meanwhile (the big queries and inserts run in a worker thread).
2. Delivery pacing: the outbox sender delivers through the real python-telegram-bot
   stack to the local Bot API test server, with the pacing clock simulated (no real
   waiting); a flood-control checker plays Telegram's limits (30 msg/s overall, 1 msg/s
   per chat) and counts what Telegram would have refused with 429. Targets: at least
   95% of the 30 msg/s ceiling, zero 429s.

    python -m bench.fanout [--recipients 75000] [--deliver 6000]

Prints a table and writes bench/results/fanout.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import defaultdict, deque
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTHAINLP_OFFLINE", "1")
os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")

from bot.outbox_sender import OutboxSender  # noqa: E402
from bot.telegram_channel import TelegramChannel  # noqa: E402
from handlers import reminders  # noqa: E402
from handlers.clock import BANGKOK, FixedClock  # noqa: E402
from handlers.engine import Engine  # noqa: E402
from handlers.schedule_time import QuietHours  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.outbox import OutboxMessage  # noqa: E402
from storage.timestamps import to_db  # noqa: E402
from tests.servers.telegram_api import TelegramTestServer  # noqa: E402

TOKEN = "999:BENCH"
MONDAY_9 = datetime(2025, 1, 13, 9, 0, tzinfo=BANGKOK).astimezone(UTC)
TELEGRAM_OVERALL_PER_SECOND = 30


async def populate(db: Database, recipients: int) -> None:
    """`recipients` villages spread over every tambon, each with one committee member on
    Telegram and an open plan item, so all of them are due the weekly roll-call."""
    now = to_db(MONDAY_9 - timedelta(days=30))
    async with db.transaction() as conn:
        async with conn.execute("SELECT code FROM areas WHERE level = 'tambon' ORDER BY code"
                                ) as cur:
            tambons = [r[0] for r in await cur.fetchall()]
        villages = [(f"{tambons[i % len(tambons)]}{i // len(tambons) + 1:02d}",
                     tambons[i % len(tambons)], i // len(tambons) + 1) for i in range(recipients)]
        await conn.executemany(
            "INSERT INTO areas (code, level, parent_code, name_th, name_en, village_no)"
            " VALUES (?, 'village', ?, 'village', 'village', ?)", villages)
        await conn.executemany(
            "INSERT INTO people (id, display_name, language, created_at) VALUES (?, ?, ?, ?)",
            [(i + 1, f"member {i}", "th" if i % 10 else "en", now) for i in range(recipients)])
        await conn.executemany(
            "INSERT INTO identities (channel, platform_user_id, chat_id, person_id, created_at)"
            " VALUES ('telegram', ?, ?, ?, ?)",
            [(str(10_000_000 + i), str(10_000_000 + i), i + 1, now) for i in range(recipients)])
        await conn.executemany(
            "INSERT INTO role_grants (person_id, role, area_code, granted_at)"
            " VALUES (?, 'village_committee', ?, ?)",
            [(i + 1, villages[i][0], now) for i in range(recipients)])
        await conn.executemany(
            "INSERT INTO plans (id, village_code, period_start, period_end, created_by,"
            " created_at) VALUES (?, ?, '2025-01-01', '2025-12-31', ?, ?)",
            [(i + 1, villages[i][0], i + 1, now) for i in range(recipients)])
        await conn.executemany(
            "INSERT INTO plan_items (plan_id, village_code, title, approach, start_on, end_on,"
            " responsible, created_by, created_at, updated_at) VALUES"
            " (?, ?, 'item', 'self_reliance', '2025-01-01', '2025-06-30', 'x', ?, ?, ?)",
            [(i + 1, villages[i][0], i + 1, now, now) for i in range(recipients)])


async def plan_and_enqueue(db: Database) -> tuple[int, float, float]:
    """(messages queued, seconds, the longest the event loop was held up meanwhile: how
    late a webhook would have been answered)."""
    stalls: list[float] = []
    planning = True

    async def watch_the_loop() -> None:
        while planning:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            stalls.append(time.perf_counter() - before - 0.001)

    watcher = asyncio.create_task(watch_the_loop())
    started = time.perf_counter()
    async with db.transaction() as conn:
        queued = await reminders.plan(conn, "weekly_progress", MONDAY_9, {},
                                      QuietHours.from_env())
    seconds = time.perf_counter() - started
    planning = False
    await watcher
    return queued, seconds, max(stalls, default=0.0)


class FloodControl:
    """What Telegram would refuse with 429: over 30 messages in any second overall, or
    two messages to one private chat less than a second apart."""

    def __init__(self) -> None:
        self.window: deque[float] = deque()
        self.last_by_chat: dict[str, float] = defaultdict(lambda: -1e9)
        self.violations = 0

    def record(self, at: float, chat_id: str) -> None:
        while self.window and self.window[0] <= at - 1.0 + 1e-6:
            self.window.popleft()
        self.window.append(at)
        if len(self.window) > TELEGRAM_OVERALL_PER_SECOND:
            self.violations += 1
        if at - self.last_by_chat[chat_id] < 1.0 - 1e-9:
            self.violations += 1
        self.last_by_chat[chat_id] = at


async def deliver(db: Database, target: int) -> dict[str, Any]:
    virtual = [0.0]
    clock = FixedClock(MONDAY_9)
    flood = FloodControl()
    async with TelegramTestServer(token=TOKEN) as server:
        channel = TelegramChannel(token=TOKEN, engine=Engine(db, clock),
                                  media_dir=Path(tempfile.mkdtemp()),
                                  api_base_url=server.origin)
        await channel.application.initialize()
        sender = channel.sender
        sender.pacer.clock = lambda: virtual[0]
        real_send = sender.send

        async def watched(message: OutboxMessage) -> Any:
            flood.record(virtual[0], message.chat_id)
            return await real_send(message)

        sender.send = watched  # type: ignore[method-assign]
        outbox = OutboxSender(db, [sender], clock)
        delivered, started = 0, time.perf_counter()
        while delivered < target:
            delivered += await outbox.deliver_due("telegram")
            step = outbox._paced_until or (1.0 / TELEGRAM_OVERALL_PER_SECOND)
            virtual[0] += step
            clock.advance(timedelta(seconds=step))
        real_seconds = time.perf_counter() - started
        refused = sum(1 for c in server.calls if c.status == 429)
        await channel.application.shutdown()
    throughput = delivered / virtual[0]
    return {"delivered": delivered, "simulated_seconds": round(virtual[0], 2),
            "messages_per_second": round(throughput, 2),
            "share_of_ceiling": round(throughput / TELEGRAM_OVERALL_PER_SECOND, 4),
            "would_be_429": flood.violations, "server_429": refused,
            "real_seconds": round(real_seconds, 1)}


async def main(recipients: int, deliver_count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        async with Database(Path(folder) / "bench.db") as db:
            await populate(db, recipients)
            queued, seconds, stall = await plan_and_enqueue(db)
            pacing = await deliver(db, min(deliver_count, queued))
    return {"date": date.today().isoformat(), "recipients": recipients,
            "plan_and_enqueue": {"queued": queued, "seconds": round(seconds, 3),
                                 "longest_event_loop_stall_seconds": round(stall, 3),
                                 "target_seconds": 5.0},
            "pacing": {**pacing, "target_share": 0.95, "target_429": 0}}


def report(result: dict[str, Any]) -> str:
    plan, pacing = result["plan_and_enqueue"], result["pacing"]
    rows = [
        ("plan + enqueue", f"{plan['queued']:,} messages in {plan['seconds']:.2f} s "
         f"(event loop held ≤ {plan['longest_event_loop_stall_seconds'] * 1000:.0f} ms)",
         "≤ 5 s", plan["seconds"] <= 5.0),
        ("delivery pacing", f"{pacing['messages_per_second']:.2f} msg/s "
         f"({pacing['share_of_ceiling']:.1%} of 30)", "≥ 95%", pacing["share_of_ceiling"] >= 0.95),
        ("429s", f"{pacing['would_be_429']} would-be, {pacing['server_429']} from the server",
         "0", pacing["would_be_429"] == 0 and pacing["server_429"] == 0),
    ]
    lines = [f"fan-out to {result['recipients']:,} recipients "
             f"({pacing['delivered']:,} delivered over {pacing['simulated_seconds']} simulated s, "
             f"{pacing['real_seconds']} real s)"]
    lines += [f"  {name:<16} {value:<48} target {target:<6} {'OK' if ok else 'MISSED'}"
              for name, value, target, ok in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=75_000)
    parser.add_argument("--deliver", type=int, default=6_000,
                        help="how many of the queued messages to deliver for the pacing figure")
    args = parser.parse_args()
    outcome = asyncio.run(main(args.recipients, args.deliver))
    print(report(outcome))
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "fanout.json").write_text(json.dumps(outcome, indent=2) + "\n")
