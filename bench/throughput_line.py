"""LINE throughput: signed webhook → reply at the local LINE API test server.

200 simulated people walk the report flow at once, 10 events each (2,000 measured events):
each person posts its next answer as a signed webhook (one text event, as LINE sends it)
as soon as the reply to the previous one has arrived at the test server. Figures: events
per second sustained over the measured phase, latency from the start of the webhook POST
to the reply's arrival at the server (p50, p99), and whether every event was answered
exactly once (each reply ends in exactly one question; replies lost or doubled are counted
per person, and the bot's own records are checked: every update handled, every outbox row
sent).

The floor: a bare line-bot-sdk echo webhook (aiohttp + WebhookParser + AsyncMessagingApi
reply_message, replying inside the request as the SDK's example does), with the same
pattern against its own, identical test server. Both run as their own processes (the bot
as `python -m bot.cli run` configured by environment variables, the echo as
`python -m bench.common line-echo`); the test server and the people run in this process.
Targets: bot throughput ≥ 0.9 × the floor's with durable intake on (issue 12), zero lost or doubled.

    python -m bench.throughput_line [--people 200] [--events 10] [--rounds 3] [--profile]
                                    [--postgres]

--postgres: each round also runs the bot with CERCAP_DB=postgresql://… on a fresh database
of one throwaway server (tests/pg_server.py), reached through its Unix socket as a bot on
the server's machine would (CERCAP_BENCH_PG_TCP=1: TCP loopback), everything else
identical; PostgreSQL against
SQLite: throughput ≥ 0.7×, p99 ≤ 1.5× (issue 14). Writes throughput_line-postgres.json.

Each round runs the bot, then the echo, on fresh servers; figures pool the rounds (one run
differs from the next by up to ±20% on this machine). About 20 s a round. --profile
samples both processes with py-spy while measuring and prints their hot spots (figures
then go to throughput_line-profiled.json, raw stacks to $TMPDIR/cercap-bench/). Prints a
table and writes bench/results/throughput_line.json.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import (
    BOT_COMMAND,
    LINE_SECRET,
    LINE_TOKEN,
    Process,
    Profiler,
    Walker,
    answered_once,
    bot_env,
    bot_reply_done,
    bot_store,
    collector_paused,
    cpu_seconds,
    echo_command,
    echo_reply_done,
    free_port,
    fresh_database,
    line_ids,
    machine,
    phase_figures,
    pool,
    postgres_server,
    postmaster_pid,
    print_profile,
    profile_summary,
    run_load_benchmark,
    seed,
    self_cpu_seconds,
    tree_cpu_seconds,
    write_raw_profile,
)
from tests.servers.line_api import LineTestServer

WARM_UP_PEOPLE = 10
WARM_UP_EVENTS = 8  # one whole report each
TARGET_SHARE = 0.9
PG_THROUGHPUT, PG_P99 = 0.7, 1.5  # the bot on PostgreSQL against on SQLite (issue 14)


class LineWalker(Walker):
    def __init__(self, user_id: str, server: LineTestServer, http: aiohttp.ClientSession,
                 url: str, *, echo: bool) -> None:
        super().__init__(user_id, echo_reply_done if echo else bot_reply_done, scripted=echo)
        self.server = server
        self.http = http
        self.url = url
        self.refused = 0  # webhooks answered other than 200 (LINE would redeliver them)

    async def send(self, text: str) -> None:
        event = self.server.text_event(self.name, text)
        for attempt in range(5):
            body = self.server.webhook_body([event if not attempt
                                             else self.server.redelivery(event)])
            headers = {"Content-Type": "application/json; charset=utf-8",
                       "User-Agent": "LineBotWebhook/2.0",
                       "X-Line-Signature": self.server.sign(body)}
            try:
                async with self.http.post(self.url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, OSError, TimeoutError):
                pass
            self.refused += 1
            await asyncio.sleep(0.1)


def watch_deliveries(server: LineTestServer, walkers: dict[str, LineWalker]) -> None:
    """Tell each walker the moment a reply (or push) to it arrives at the server: one API
    call carries all messages of one reply, up to five."""
    deliver = server._deliver

    def watched(via: Any, to: str, messages: list[dict[str, Any]]) -> Any:
        at = time.monotonic()
        sent = deliver(via, to, messages)
        walker = walkers.get(to)
        if walker is not None:
            for message in messages:
                text = str(message.get("text") or message.get("altText") or "")
                has_choices = bool(message.get("quickReply")) or message.get("type") in (
                    "flex", "template")
                walker.received(text, has_choices, at)
        return sent

    server._deliver = watched  # type: ignore[method-assign]


RATE = "events_per_second"


async def run_load(server: LineTestServer, url: str, pid: int, people: list[str], events: int,
                   warm_up: list[str], *, echo: bool, profile_to: Path | None = None,
                   database_pid: int | None = None) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)  # LINE posts as many webhooks as it has
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=30)) as http:
        walkers = {uid: LineWalker(uid, server, http, url, echo=echo)
                   for uid in people + warm_up}
        watch_deliveries(server, walkers)
        await asyncio.gather(*(walkers[uid].walk(WARM_UP_EVENTS, None) for uid in warm_up))
        await asyncio.sleep(1.0)
        profiler = Profiler(pid, profile_to) if profile_to else None
        if profiler:
            await asyncio.sleep(0.5)
        calls_before = len(server.calls)
        latencies: list[float] = []
        with collector_paused():  # this process's pauses would land on either side
            cpu_db = tree_cpu_seconds(database_pid) if database_pid else 0.0
            cpu_bot, cpu_here, started = cpu_seconds(pid), self_cpu_seconds(), time.monotonic()
            stalled = sum(await asyncio.gather(*(walkers[uid].walk(events, latencies)
                                                 for uid in people)))
            seconds = time.monotonic() - started
            cpu_bot, cpu_here = cpu_seconds(pid) - cpu_bot, self_cpu_seconds() - cpu_here
            if database_pid:
                cpu_db = tree_cpu_seconds(database_pid) - cpu_db
        if profiler:
            profiler.stop()
        await asyncio.sleep(1.0)  # a reply sent twice would arrive now
    measured = [walkers[uid] for uid in people]
    kinds: dict[str, int] = {}
    for call in server.calls[calls_before:]:
        key = f"{call.kind} {call.status}"
        kinds[key] = kinds.get(key, 0) + 1
    return {**phase_figures(latencies, seconds, cpu_bot, cpu_here, stalled, RATE),
            **answered_once(measured), "webhooks_refused": sum(w.refused for w in measured),
            "api_calls": kinds,
            **({"_database_cpu": cpu_db} if database_pid else {})}


async def measure_bot(folder: Path, people: list[str], warm_up: list[str], events: int,
                      profile: bool, pg: Any = None, pg_name: str = "") -> dict[str, Any]:
    """The bot on the folder's SQLite file, or (pg: the throwaway server) on a fresh
    PostgreSQL database named pg_name."""
    db: Path | str = fresh_database(pg, pg_name) if pg else folder / "bench.db"
    if pg and not os.environ.get("CERCAP_BENCH_PG_TCP"):
        db = pg.socket_url(pg_name)  # the server on this machine: its Unix socket
    await seed(db, [], people + warm_up)  # type: ignore[arg-type]
    async with LineTestServer(channel_secret=LINE_SECRET, access_token=LINE_TOKEN) as server:
        port = free_port()
        bot = Process(BOT_COMMAND, bot_env(folder, port, line_origin=server.origin,
                                           db=str(db) if pg else None),
                      folder / f"bot{'-pg' if pg else ''}.log")
        bot.start()
        try:
            await bot.wait_healthy(port)
            raw = folder / "bot.pyspy" if profile else None
            result = await run_load(server, f"http://127.0.0.1:{port}/line/callback", bot.pid,
                                    people, events, warm_up, echo=False, profile_to=raw,
                                    database_pid=postmaster_pid(pg) if pg else None)
            if raw:
                result["profile"] = profile_summary(raw)
                result["profile"]["raw_stacks"] = str(write_raw_profile(
                    "throughput_line" + ("-postgres" if pg else ""), raw))
        finally:
            bot.stop()
    result["stored"] = bot_store(db)
    return result


async def measure_echo(folder: Path, people: list[str], warm_up: list[str], events: int,
                       profile: bool) -> dict[str, Any]:
    async with LineTestServer(channel_secret=LINE_SECRET, access_token=LINE_TOKEN) as server:
        port = free_port()
        echo = Process(echo_command("line-echo", "--port", str(port), "--api", server.origin),
                       bot_env(folder, 0), folder / "echo.log")
        echo.start()
        try:
            await echo.wait_healthy(port)
            raw = folder / "echo.pyspy" if profile else None
            result = await run_load(server, f"http://127.0.0.1:{port}/line/callback", echo.pid,
                                    people, events, warm_up, echo=True, profile_to=raw)
            if raw:
                result["profile"] = profile_summary(raw)
                result["profile"]["raw_stacks"] = str(write_raw_profile(
                    "throughput_line-echo", raw))
            return result
        finally:
            echo.stop()


def pooled(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    side = pool(rounds, RATE)
    calls: dict[str, int] = {}
    for r in rounds:
        for key, n in r["api_calls"].items():
            calls[key] = calls.get(key, 0) + n
    side["api_calls"] = calls
    if "_database_cpu" in rounds[0]:
        cpu = sum(r["_database_cpu"] for r in rounds)
        side["database_cpu_share"] = round(cpu / sum(r["_seconds"] for r in rounds), 3)
        side["database_cpu_ms_per_message"] = round(cpu / max(side["count"], 1) * 1000, 3)
    for key in ("profile", "stored"):
        if key in rounds[-1]:
            side[key] = rounds[-1][key]
    return side


async def main(people_count: int, events: int, rounds: int, profile: bool,
               postgres: bool = False) -> dict[str, Any]:
    """Each round: the bot, then the echo, each on fresh servers (and the bot on a fresh
    database); figures pool the rounds. With `postgres`, each round also runs the bot on a
    fresh PostgreSQL database (one throwaway server for the run), before the SQLite bot in
    odd rounds and after it in even ones."""
    people = line_ids(people_count)
    warm_up = line_ids(WARM_UP_PEOPLE, first=1_000_000)
    bots, pg_bots, floors = [], [], []
    with postgres_server(postgres) as pg:
        for number in range(rounds):
            with tempfile.TemporaryDirectory(prefix="bench-line-") as name:
                folder = Path(name)
                if pg and number % 2:
                    pg_bots.append(await measure_bot(folder, people, warm_up, events, profile,
                                                     pg, f"line{number}"))
                bots.append(await measure_bot(folder, people, warm_up, events, profile))
                if pg and not number % 2:
                    pg_bots.append(await measure_bot(folder, people, warm_up, events, profile,
                                                     pg, f"line{number}"))
                floors.append(await measure_echo(folder, people, warm_up, events, profile))
    bot, floor = pooled(bots), pooled(floors)
    shares = [round(b[RATE] / f[RATE], 3) for b, f in zip(bots, floors, strict=True)]
    result = {"date": date.today().isoformat(), "machine": machine(), "people": people_count,
              "events_per_person": events, "rounds": rounds, "profiled": profile,
              "bot": bot, "floor_echo": floor,
              "throughput_share": round(bot[RATE] / floor[RATE], 3),
              "throughput_share_by_round": shares, "target_share": TARGET_SHARE,
              "p99_ratio": round(bot["p99_ms"] / floor["p99_ms"], 2)}
    if pg_bots:
        on_pg = result["bot_postgres"] = pooled(pg_bots)
        result["postgres_vs_sqlite"] = {
            "throughput": round(on_pg[RATE] / bot[RATE], 3),
            "throughput_by_round": [round(p[RATE] / b[RATE], 3)
                                    for p, b in zip(pg_bots, bots, strict=True)],
            "p99": round(on_pg["p99_ms"] / bot["p99_ms"], 2),
            "targets": {"throughput_at_least": PG_THROUGHPUT, "p99_at_most": PG_P99}}
    return result


def report(result: dict[str, Any]) -> str:
    bot, floor = result["bot"], result["floor_echo"]
    lines = [f"LINE webhook → reply, {result['people']} people × {result['events_per_person']}"
             f" events × {result['rounds']} round(s) (latency in ms from the POST to the reply"
             f" at the server)",
             f"  {'':<12}{'events':>7}{'ev/s':>9}{'p50':>9}{'p99':>9}{'max':>9}"
             f"{'CPU ms/ev':>11}{'lost':>6}{'doubled':>9}{'stalled':>9}"]
    sides = [("bot", bot), ("bot on PG", result.get("bot_postgres")), ("echo floor", floor)]
    for name, row in [(n, r) for n, r in sides if r]:
        lines.append(f"  {name:<12}{row['count']:>7}{row[RATE]:>9.1f}"
                     f"{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['max_ms']:>9.1f}"
                     f"{row['process_cpu_ms_per_message']:>11.2f}{row['replies_lost']:>6}"
                     f"{row['replies_doubled']:>9}{row['stalled']:>9}")
    share_ok = result["throughput_share"] >= result["target_share"]
    clean = all(row["replies_lost"] == 0 and row["replies_doubled"] == 0 and row["stalled"] == 0
                for row in (bot, floor))
    by_round = ", ".join(f"{x:.2f}" for x in result["throughput_share_by_round"])
    lines.append(f"  throughput bot / floor: {result['throughput_share']:.2f} (rounds: "
                 f"{by_round})  target ≥ {result['target_share']}  "
                 f"{'OK' if share_ok else 'MISSED'}")
    lines.append(f"  lost or doubled: {'none  OK' if clean else 'SOME  MISSED'}"
                 f"   (bot API calls: {bot['api_calls']}; stored, last round: "
                 f"{bot.get('stored')})")
    lines.append(f"  CPU busy during the run: bot process {bot['process_cpu_share']:.0%}, echo "
                 f"process {floor['process_cpu_share']:.0%}; load generator "
                 f"{bot['load_generator_cpu_share']:.0%} / {floor['load_generator_cpu_share']:.0%}")
    if "bot_postgres" in result:
        on_pg, vs = result["bot_postgres"], result["postgres_vs_sqlite"]
        by_round = ", ".join(f"{x:.2f}" for x in vs["throughput_by_round"])
        lines.append(
            f"  PostgreSQL / SQLite: throughput {vs['throughput']:.2f} (rounds: {by_round})"
            f" target ≥ {PG_THROUGHPUT} {'OK' if vs['throughput'] >= PG_THROUGHPUT else 'MISSED'};"
            f" p99 {vs['p99']:.2f} target ≤ {PG_P99} {'OK' if vs['p99'] <= PG_P99 else 'MISSED'}")
        lines.append(f"  on PostgreSQL: bot process {on_pg['process_cpu_share']:.0%} busy, the"
                     f" server {on_pg['database_cpu_share']:.0%}"
                     f" ({on_pg['database_cpu_ms_per_message']:.2f} ms an event); stored, last"
                     f" round: {on_pg.get('stored')}")
        if "profile" in on_pg:
            lines.append("bot on PostgreSQL " + print_profile(on_pg["profile"]))
    if "profile" in bot:
        lines.append("bot " + print_profile(bot["profile"]))
    if "profile" in floor:
        lines.append("echo floor " + print_profile(floor["profile"], lines=6))
    return "\n".join(lines)


if __name__ == "__main__":
    run_load_benchmark(__doc__ or "", "throughput_line", "events", "measured events a person",
                       3, "±20%%", main, report)
