"""Memory and start-up of the bot process (`python -m bot.cli run`, both channels
configured against the local Telegram and LINE test servers, as in production).

1. Cold start until ready, three times: from the process start to GET /healthz answering,
   and to the first message answered (a person on Telegram sends "report a problem" the
   moment /healthz answers; ready = its reply reaches the Bot API server). The database
   is migrated beforehand and the OS file cache is warm (the machine's ordinary state
   after an install or a restart of the service). Target ≤ 3 s.
2. RSS idle after warm-up: five people on Telegram and five on LINE each walk a whole
   report, then the bot is left idle; VmRSS from /proc/<pid>/status. Target ≤ 200 MB.
3. RSS with 10,000 open conversations: 10,000 more people each send one message that puts
   them in the middle of the report flow (the category question), 200 at a time through
   the real long-polling path, so each conversation row is written and touched by the bot
   itself; then idle again. Target ≤ +50 MB over (2).

    python -m bench.memory_startup [--conversations 10000] [--starts 3] [--idle 10]

Prints a table and writes bench/results/memory_startup.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any

from bench.common import (
    BOT_COMMAND,
    LINE_SECRET,
    LINE_TOKEN,
    TG_TOKEN,
    Process,
    bot_env,
    free_port,
    hwm_mb,
    line_ids,
    load_average,
    load_line,
    machine,
    rss_mb,
    seed,
    telegram_ids,
    wait_until_quiet,
    write_result,
)
from bench.latency_telegram import TelegramWalker, watch_sends
from bench.throughput_line import LineWalker, watch_deliveries
from tests.servers.line_api import LineTestServer
from tests.servers.telegram_api import TelegramTestServer

WARM_UP_PEOPLE = 5  # a channel
WARM_UP_MESSAGES = 8  # one whole report
IN_FLIGHT = 200
TARGETS = {"ready_seconds": 3.0, "idle_rss_mb": 200.0, "conversations_extra_mb": 50.0}


class Stage:
    """The bot process with its two test servers and every simulated person."""

    def __init__(self, folder: Path, tg: TelegramTestServer, line: LineTestServer) -> None:
        self.folder = folder
        self.tg = tg
        self.line = line
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/line/callback"
        self.tg_walkers: dict[int, TelegramWalker] = {}
        self.line_walkers: dict[str, LineWalker] = {}
        watch_sends(tg, self.tg_walkers)
        watch_deliveries(line, self.line_walkers)

    def process(self) -> Process:
        env = bot_env(self.folder, self.port, telegram_origin=self.tg.origin,
                      line_origin=self.line.origin)
        return Process(BOT_COMMAND, env, self.folder / "bot.log")

    def tg_walker(self, user_id: int) -> TelegramWalker:
        walker = self.tg_walkers[user_id] = TelegramWalker(user_id, self.tg, echo=False)
        return walker


async def cold_start(stage: Stage, user_id: int) -> tuple[Process, dict[str, float]]:
    bot = stage.process()
    walker = stage.tg_walker(user_id)
    bot.start()
    healthz = await bot.wait_healthy(stage.port)
    await walker.walk(1, None, timeout=30)
    if walker.first_at is None:
        raise RuntimeError(f"the first message was not answered; see {bot.log}")
    ready = walker.first_at - bot.started_at
    return bot, {"healthz_seconds": round(healthz, 3), "ready_seconds": round(ready, 3)}


async def idle_rss(pid: int, seconds: float) -> dict[str, float]:
    """Leave the bot idle; VmRSS sampled each second, the last one counts."""
    samples = []
    for _ in range(max(1, int(seconds))):
        await asyncio.sleep(1.0)
        samples.append(rss_mb(pid))
    return {"rss_mb": round(samples[-1], 1), "rss_min_mb": round(min(samples), 1),
            "rss_max_mb": round(max(samples), 1), "peak_rss_mb": round(hwm_mb(pid), 1)}


async def open_conversations(stage: Stage, people: list[int]) -> dict[str, Any]:
    """Each person sends one message that opens the report flow, IN_FLIGHT at a time."""
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(user_id: int) -> int:
        async with gate:
            return await stage.tg_walker(user_id).walk(1, None, timeout=60)

    started = time.monotonic()
    stalled = sum(await asyncio.gather(*(one(uid) for uid in people)))
    seconds = time.monotonic() - started
    asked = sum(1 for uid in people if "ปัญหาเรื่องอะไร" in stage.tg_walkers[uid].last_text)
    return {"people": len(people), "seconds": round(seconds, 1),
            "messages_per_second": round(len(people) / seconds, 1), "stalled": stalled,
            "asked_the_category": asked}


def conversations_in_flow(db_path: Path) -> int:
    with closing(sqlite3.connect(db_path)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM conversations WHERE flow IS NOT NULL"
                                ).fetchone()[0])


async def main(conversations: int, starts: int, idle_seconds: float) -> dict[str, Any]:
    cold_people = telegram_ids(starts, first=9_000_000)
    warm_tg = telegram_ids(WARM_UP_PEOPLE, first=9_100_000)
    warm_line = line_ids(WARM_UP_PEOPLE, first=2_000_000)
    crowd = telegram_ids(conversations, first=10_000_000)
    result: dict[str, Any] = {"date": date.today().isoformat(), "machine": machine(),
                              "conversations": conversations, "targets": TARGETS}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as name:
        folder = Path(name)
        await seed(folder / "bench.db", cold_people + warm_tg + crowd, warm_line)
        async with TelegramTestServer(token=TG_TOKEN) as tg, \
                LineTestServer(channel_secret=LINE_SECRET, access_token=LINE_TOKEN) as line:
            stage = Stage(folder, tg, line)
            runs = []
            bot: Process | None = None
            try:
                for i, user_id in enumerate(cold_people):
                    bot, figures = await cold_start(stage, user_id)
                    runs.append(figures)
                    if i < len(cold_people) - 1:
                        bot.stop()
                assert bot is not None
                result["cold_start"] = {
                    "runs": runs,
                    "healthz_seconds_median": statistics.median(r["healthz_seconds"]
                                                                for r in runs),
                    "ready_seconds_median": statistics.median(r["ready_seconds"] for r in runs),
                    "ready_seconds_max": max(r["ready_seconds"] for r in runs)}
                result["rss_after_start_mb"] = round(rss_mb(bot.pid), 1)

                import aiohttp

                async with aiohttp.ClientSession() as http:
                    for user_id in warm_line:
                        stage.line_walkers[user_id] = LineWalker(user_id, line, http, stage.url,
                                                                 echo=False)
                    await asyncio.gather(
                        *(stage.tg_walker(uid).walk(WARM_UP_MESSAGES, None) for uid in warm_tg),
                        *(stage.line_walkers[uid].walk(WARM_UP_MESSAGES, None)
                          for uid in warm_line))
                result["idle"] = await idle_rss(bot.pid, idle_seconds)
                result["open"] = await open_conversations(stage, crowd)
                result["with_conversations"] = await idle_rss(bot.pid, idle_seconds)
                result["open"]["conversations_in_flow"] = conversations_in_flow(
                    folder / "bench.db")
            finally:
                if bot is not None:
                    bot.stop()
    result["conversations_extra_mb"] = round(result["with_conversations"]["rss_mb"]
                                             - result["idle"]["rss_mb"], 1)
    result["machine"]["load_average_at_end"] = load_average()
    return result


def report(result: dict[str, Any]) -> str:
    cold, idle, full = result["cold_start"], result["idle"], result["with_conversations"]
    opened = result["open"]
    targets = result["targets"]
    rows = [
        ("cold start → /healthz", f"{cold['healthz_seconds_median']:.2f} s (median of "
         f"{len(cold['runs'])})", "", None),
        ("cold start → ready", f"{cold['ready_seconds_median']:.2f} s median, "
         f"{cold['ready_seconds_max']:.2f} s max", f"≤ {targets['ready_seconds']} s",
         cold["ready_seconds_max"] <= targets["ready_seconds"]),
        ("RSS idle after warm-up", f"{idle['rss_mb']:.1f} MB (peak {idle['peak_rss_mb']:.1f})",
         f"≤ {targets['idle_rss_mb']:.0f} MB", idle["rss_mb"] <= targets["idle_rss_mb"]),
        (f"RSS, {opened['conversations_in_flow']:,} open conversations",
         f"{full['rss_mb']:.1f} MB (+{result['conversations_extra_mb']:.1f}; peak "
         f"{full['peak_rss_mb']:.1f})", f"≤ +{targets['conversations_extra_mb']:.0f} MB",
         result["conversations_extra_mb"] <= targets["conversations_extra_mb"]),
    ]
    lines = [f"bot process memory and start-up ({opened['people']:,} conversations opened in "
             f"{opened['seconds']} s, {opened['messages_per_second']} msg/s, "
             f"{opened['stalled']} stalled)"]
    for name, value, target, ok in rows:
        verdict = "" if ok is None else ("OK" if ok else "MISSED")
        lines.append(f"  {name:<36} {value:<40} {target:<10} {verdict}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--starts", type=int, default=3, help="cold starts measured")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds left idle before "
                        "reading RSS")
    parser.add_argument("--no-wait", action="store_true",
                        help="measure even while another benchmark runs")
    args = parser.parse_args()
    if not args.no_wait:
        wait_until_quiet()
    outcome = asyncio.run(main(args.conversations, args.starts, args.idle))
    print(report(outcome))
    print(load_line(outcome["machine"]))
    write_result("memory_startup", outcome)
