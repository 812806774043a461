"""Telegram latency: a person's message → the bot's reply, through the real
python-telegram-bot stack (long polling) against the local Bot API test server.

200 simulated people walk the report flow at once, 10 messages each (2,000 measured
messages): each person sends its next answer as soon as the reply to the previous one has
arrived (the reply is complete when its question has arrived: a reply can be two messages,
e.g. "saved #12" and the menu). Latency is from push_update (the message reaches
Telegram) to the first sendMessage to that chat arriving at the server.

The floor: a bare python-telegram-bot echo bot (Application + MessageHandler sending the
text back, long polling, library defaults) handling the same message pattern against its
own, identical test server. Both bots run as their own processes (`python -m bot.cli run`,
configured by environment variables as in production; the echo bot as
`python -m bench.common telegram-echo`), while the test server and the simulated people
run in this process: each bot has the machine's second core to itself and neither shares
an event loop with the load, which keeps the comparison fair. Targets: bot / floor
≤ 1.3 at p50 and at p99.

Two phases, each 2,000 measured messages, after a warm-up (10 people walk one report):
- back-to-back, as specified: the next answer leaves the moment the reply is complete.
  200 people with no pause keep either bot busy all the time, so latency here is mostly
  the wait in the queue, that is 200 / the bot's throughput;
- paced: each person pauses 1 to 3 s (uniformly) before answering, as people do; about
  80 messages a second then arrive, under half of what either bot can handle, so latency
  is mostly the path's own.

And a third, cold (full speed from the first message: a bot restarted after a crash
meets its backlog at once), on a fresh process, server and database, with no warm-up:
one message ("/start", from a person not measured) is waiting at the server when the
process starts; the moment its reply arrives (the first answer) 50 people each send
"/start" 10 times, the next as soon as the reply to the previous one has arrived; all 500
are measured. The echo floor gets the same, in a fresh process of its own. One such start
lasts about half a second and its p99 swings by ±40%, so each round has COLD_STARTS of
them for each side, alternating bot and echo, pooled like the rounds.

    python -m bench.latency_telegram [--people 200] [--messages 10] [--rounds 2] [--profile]
                                     [--postgres]

--postgres: the bot also runs with CERCAP_DB=postgresql://… on a fresh database of one
throwaway server (tests/pg_server.py; through its Unix socket, CERCAP_BENCH_PG_TCP=1: TCP
loopback) each time it runs on SQLite (every phase, cold too),
everything else identical; PostgreSQL against SQLite: throughput ≥ 0.7×, p99 ≤ 1.5× (issue
14). Writes latency_telegram-postgres.json.

This process (servers and people) does no garbage collection while a phase is measured
(`collector_paused`): its pauses would land on either side. Each round runs the bot, then
the echo, on fresh servers, then each again cold in fresh processes; percentiles and rates
pool the rounds (one run differs from the next by up to ±15% on this machine). About 100 s
a round. --profile samples both processes with py-spy during the back-to-back phase and,
attached at the first answer, during the cold one, and prints their hot spots (figures
from such a run go to latency_telegram-profiled.json, since sampling costs CPU; the raw
stacks to $TMPDIR/cercap-bench/). Prints a table and writes
bench/results/latency_telegram.json.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.common import (
    BOT_COMMAND,
    TG_TOKEN,
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
    machine,
    phase_figures,
    pool,
    postgres_server,
    print_profile,
    profile_summary,
    run_load_benchmark,
    seed,
    self_cpu_seconds,
    telegram_ids,
    write_raw_profile,
)
from tests.servers.telegram_api import TelegramTestServer

WARM_UP_PEOPLE = 10
WARM_UP_MESSAGES = 8  # one whole report each: every step's code runs before measuring
TARGET_RATIO = 1.3
PG_THROUGHPUT, PG_P99 = 0.7, 1.5  # the bot on PostgreSQL against on SQLite (issue 14)
COLD_PEOPLE = 50
COLD_MESSAGES = 10
COLD_STARTS = 3  # a round, for each side
COLD_TEXT = "/start"
FIRST_PERSON = 6_900_000  # sends the message waiting at the server when the process starts
FIRST_ANSWER_TIMEOUT = 60.0


class TelegramWalker(Walker):
    def __init__(self, user_id: int, server: TelegramTestServer, *, echo: bool) -> None:
        super().__init__(str(user_id), echo_reply_done if echo else bot_reply_done,
                         scripted=echo)
        self.user_id = user_id
        self.server = server

    async def send(self, text: str) -> None:
        self.server.push_update(self.server.text_update(self.user_id, text))


def watch_sends(server: TelegramTestServer, walkers: dict[int, TelegramWalker]) -> None:
    """Tell each walker the moment a sendMessage to its chat arrives at the server."""
    _, send_message = server._methods["sendmessage"]

    async def watched(params: dict[str, Any]) -> Any:
        at = time.monotonic()
        result = await send_message(params)  # raises for a refused call: not a reply
        walker = walkers.get(params.get("chat_id"))  # type: ignore[arg-type]
        if walker is not None:
            markup = params.get("reply_markup") or {}
            has_choices = bool(markup.get("inline_keyboard") or markup.get("keyboard"))
            walker.received(str(params.get("text", "")), has_choices, at)
        return result

    server.register_method("sendMessage", watched)


PHASES = {"back_to_back": None, "paced": (1.0, 3.0)}
COLD = "cold"
ALL_PHASES = (*PHASES, COLD)
RATE = "messages_per_second"


async def run_phase(pid: int, walkers: list[TelegramWalker], messages: int,
                    think: tuple[float, float] | None, profile_to: Path | None,
                    say: str | None = None, attach_wait: float = 0.5) -> dict[str, Any]:
    profiler = Profiler(pid, profile_to) if profile_to else None
    if profiler and attach_wait:
        await asyncio.sleep(attach_wait)  # py-spy attached
    latencies: list[float] = []
    with collector_paused():
        cpu_bot, cpu_here, started = cpu_seconds(pid), self_cpu_seconds(), time.monotonic()
        stalled = sum(await asyncio.gather(*(w.walk(messages, latencies, think=think, say=say)
                                             for w in walkers)))
        seconds = time.monotonic() - started
        cpu_bot, cpu_here = cpu_seconds(pid) - cpu_bot, self_cpu_seconds() - cpu_here
    if profiler:
        profiler.stop()
    return phase_figures(latencies, seconds, cpu_bot, cpu_here, stalled, RATE)


async def run_load(server: TelegramTestServer, pid: int, people: list[int], messages: int,
                   warm_up: list[int], *, echo: bool, profile_to: Path | None = None
                   ) -> dict[str, Any]:
    """Warm-up, then each phase; the profile (if asked) covers the back-to-back phase."""
    walkers = {uid: TelegramWalker(uid, server, echo=echo) for uid in people + warm_up}
    watch_sends(server, walkers)
    await asyncio.gather(*(walkers[uid].walk(WARM_UP_MESSAGES, None) for uid in warm_up))
    await asyncio.sleep(1.0)  # the warm-up's last sends are out of the way
    measured = [walkers[uid] for uid in people]
    result: dict[str, Any] = {}
    for phase, think in PHASES.items():
        result[phase] = await run_phase(pid, measured, messages, think,
                                        profile_to if phase == "back_to_back" else None)
    await asyncio.sleep(1.0)  # a reply sent twice would arrive now
    return {**result, **answered_once(measured)}


async def run_cold(server: TelegramTestServer, process: Process, people: list[int], *,
                   echo: bool, profile_to: Path | None = None) -> dict[str, Any]:
    """The cold phase on a process not started yet: a first message waits at the server
    as the process starts; from the moment its reply arrives, every person sends
    COLD_TEXT COLD_MESSAGES times, each the moment the previous reply has arrived."""
    walkers = {uid: TelegramWalker(uid, server, echo=echo) for uid in [*people, FIRST_PERSON]}
    watch_sends(server, walkers)
    first = walkers[FIRST_PERSON]
    measured = [walkers[uid] for uid in people]
    # This process collects its garbage now, not between the first answer and the phase.
    with collector_paused():
        process.start()
        await first.walk(1, None, timeout=FIRST_ANSWER_TIMEOUT, say=COLD_TEXT)
        process.check_alive()
        if first.first_at is None:
            raise RuntimeError(f"no answer within {FIRST_ANSWER_TIMEOUT} s; see {process.log}")
        first_answer = first.first_at - process.started_at
        # No warm-up, and py-spy (if asked) not waited for: the phase starts at the answer.
        result = await run_phase(process.pid, measured, COLD_MESSAGES, None, profile_to,
                                 say=COLD_TEXT, attach_wait=0.0)
    await asyncio.sleep(1.0)  # a reply sent twice would arrive now
    return {**result, **answered_once(measured),
            "first_answer_seconds": round(first_answer, 3)}


def bot_database(folder: Path, pg: Any, pg_name: str) -> Path | str:
    """The folder's SQLite file, or a fresh database named pg_name on the throwaway
    PostgreSQL server pg."""
    if not pg:
        return folder / "bench.db"
    url = fresh_database(pg, pg_name)
    # The server on this machine: its Unix socket (CERCAP_BENCH_PG_TCP=1: TCP loopback).
    return url if os.environ.get("CERCAP_BENCH_PG_TCP") else pg.socket_url(pg_name)


async def measure_cold_bot(folder: Path, people: list[int], profile: bool, pg: Any = None,
                           pg_name: str = "") -> dict[str, Any]:
    folder = folder / ("cold-pg" if pg else "cold")
    folder.mkdir()
    db = bot_database(folder, pg, pg_name)
    await seed(db, [*people, FIRST_PERSON], [])  # type: ignore[arg-type]
    async with TelegramTestServer(token=TG_TOKEN) as server:
        port = free_port()
        bot = Process(BOT_COMMAND, bot_env(folder, port, telegram_origin=server.origin,
                                           db=str(db) if pg else None),
                      folder / "bot.log")
        raw = folder / "bot-cold.pyspy" if profile else None
        try:
            result = await run_cold(server, bot, people, echo=False, profile_to=raw)
        finally:
            bot.stop()
    if raw:
        result["profile"] = profile_summary(raw)
        result["profile"]["raw_stacks"] = str(write_raw_profile(
            "latency_telegram-cold" + ("-postgres" if pg else ""), raw))
    result["stored"] = bot_store(db)
    return result


async def measure_cold_echo(folder: Path, people: list[int], profile: bool
                            ) -> dict[str, Any]:
    async with TelegramTestServer(token=TG_TOKEN) as server:
        echo = Process(echo_command("telegram-echo", "--api", server.origin),
                       bot_env(folder, 0), folder / "echo-cold.log")
        raw = folder / "echo-cold.pyspy" if profile else None
        try:
            result = await run_cold(server, echo, people, echo=True, profile_to=raw)
        finally:
            echo.stop()
    if raw:
        result["profile"] = profile_summary(raw)
        result["profile"]["raw_stacks"] = str(write_raw_profile(
            "latency_telegram-cold-echo", raw))
    return result


async def measure_bot(folder: Path, people: list[int], warm_up: list[int], messages: int,
                      profile: bool, pg: Any = None, pg_name: str = "") -> dict[str, Any]:
    db = bot_database(folder, pg, pg_name)
    await seed(db, people + warm_up, [])  # type: ignore[arg-type]
    async with TelegramTestServer(token=TG_TOKEN) as server:
        port = free_port()
        bot = Process(BOT_COMMAND, bot_env(folder, port, telegram_origin=server.origin,
                                           db=str(db) if pg else None),
                      folder / f"bot{'-pg' if pg else ''}.log")
        bot.start()
        try:
            await bot.wait_healthy(port)
            await server.wait_for_poll(timeout=30)
            raw = folder / "bot.pyspy" if profile else None
            result = await run_load(server, bot.pid, people, messages, warm_up, echo=False,
                                    profile_to=raw)
            if raw:
                result["profile"] = profile_summary(raw)
                result["profile"]["raw_stacks"] = str(write_raw_profile(
                    "latency_telegram" + ("-postgres" if pg else ""), raw))
        finally:
            bot.stop()
    result["stored"] = bot_store(db)
    return result


async def measure_echo(folder: Path, people: list[int], warm_up: list[int], messages: int,
                       profile: bool) -> dict[str, Any]:
    async with TelegramTestServer(token=TG_TOKEN) as server:
        echo = Process(echo_command("telegram-echo", "--api", server.origin),
                       bot_env(folder, 0), folder / "echo.log")
        echo.start()
        try:
            await server.wait_for_poll(timeout=30)
            raw = folder / "echo.pyspy" if profile else None
            result = await run_load(server, echo.pid, people, messages, warm_up, echo=True,
                                    profile_to=raw)
            if raw:
                result["profile"] = profile_summary(raw)
                result["profile"]["raw_stacks"] = str(write_raw_profile(
                    "latency_telegram-echo", raw))
            return result
        finally:
            echo.stop()


def pooled(rounds: list[dict[str, Any]], starts: list[dict[str, Any]]) -> dict[str, Any]:
    """The rounds of one side (bot or echo) and its cold starts pooled; lost and doubled
    over every phase."""
    side: dict[str, Any] = {phase: pool([r[phase] for r in rounds], RATE) for phase in PHASES}
    cold = side[COLD] = pool(starts, RATE)
    cold["first_answer_seconds"] = [s["first_answer_seconds"] for s in starts]
    for key in ("messages_sent", "replies_lost", "replies_doubled"):
        side[key] = sum(r[key] for r in rounds) + cold[key]
    for key in ("profile", "stored"):
        if key in rounds[-1]:
            side[key] = rounds[-1][key]
        if key in starts[-1]:
            cold[key] = starts[-1][key]
    return side


async def main(people_count: int, messages: int, rounds: int, profile: bool,
               postgres: bool = False) -> dict[str, Any]:
    """Each round: the bot, then the echo, each on fresh servers (and the bot on a fresh
    database); figures pool the rounds. With `postgres`, the bot also runs on a fresh
    PostgreSQL database (one throwaway server for the run) each time, before the SQLite
    bot in odd rounds and after it in even ones."""
    people = telegram_ids(people_count)
    warm_up = telegram_ids(WARM_UP_PEOPLE, first=8_000_000)
    cold_people = telegram_ids(COLD_PEOPLE, first=6_000_000)
    bots, floors, bots_cold, floors_cold = [], [], [], []
    pg_bots: list[dict[str, Any]] = []
    pg_cold: list[dict[str, Any]] = []
    with postgres_server(postgres) as pg:
        for number in range(rounds):
            with tempfile.TemporaryDirectory(prefix="bench-latency-") as name:
                folder = Path(name)
                if pg and number % 2:
                    pg_bots.append(await measure_bot(folder, people, warm_up, messages,
                                                     profile, pg, f"tg{number}"))
                bots.append(await measure_bot(folder, people, warm_up, messages, profile))
                if pg and not number % 2:
                    pg_bots.append(await measure_bot(folder, people, warm_up, messages,
                                                     profile, pg, f"tg{number}"))
                floors.append(await measure_echo(folder, people, warm_up, messages, profile))
            for start in range(COLD_STARTS):
                with tempfile.TemporaryDirectory(prefix="bench-latency-cold-") as name:
                    folder = Path(name)
                    bots_cold.append(await measure_cold_bot(folder, cold_people, profile))
                    if pg:
                        pg_cold.append(await measure_cold_bot(
                            folder, cold_people, profile, pg, f"tgcold{number}_{start}"))
                    floors_cold.append(await measure_cold_echo(folder, cold_people, profile))
    bot, floor = pooled(bots, bots_cold), pooled(floors, floors_cold)
    ratios = {phase: {"p50": round(bot[phase]["p50_ms"] / floor[phase]["p50_ms"], 2),
                      "p99": round(bot[phase]["p99_ms"] / floor[phase]["p99_ms"], 2)}
              for phase in ALL_PHASES}
    phases: dict[str, Any] = {phase: {"think_seconds": think} for phase, think in PHASES.items()}
    phases[COLD] = {"think_seconds": None, "people": COLD_PEOPLE,
                    "messages_per_person": COLD_MESSAGES, "text": COLD_TEXT,
                    "fresh_process": True, "warm_up": None,
                    "starts_per_side": rounds * COLD_STARTS,
                    "measured_from": "the reply to a message waiting at the server as the "
                                     "process starts"}
    result = {"date": date.today().isoformat(), "machine": machine(), "people": people_count,
              "messages_per_person_and_phase": messages, "rounds": rounds, "profiled": profile,
              "phases": phases, "bot": bot, "floor_echo": floor, "ratio": ratios,
              "target_ratio": TARGET_RATIO}
    if pg_bots:
        on_pg = result["bot_postgres"] = pooled(pg_bots, pg_cold)
        result["postgres_vs_sqlite"] = {
            phase: {"throughput": round(on_pg[phase][RATE] / bot[phase][RATE], 3),
                    "p50": round(on_pg[phase]["p50_ms"] / bot[phase]["p50_ms"], 2),
                    "p99": round(on_pg[phase]["p99_ms"] / bot[phase]["p99_ms"], 2)}
            for phase in ALL_PHASES}
        result["postgres_vs_sqlite"]["targets"] = {"throughput_at_least": PG_THROUGHPUT,
                                                   "p99_at_most": PG_P99}
    return result


def report(result: dict[str, Any]) -> str:
    bot, floor = result["bot"], result["floor_echo"]
    lines = [f"Telegram latency, {result['people']} people × "
             f"{result['messages_per_person_and_phase']} messages a phase × {result['rounds']} "
             f"round(s), long polling (ms from push_update to the first sendMessage)",
             f"  {'phase':<13}{'':<11}{'count':>6}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}"
             f"{'msg/s':>8}{'CPU ms/msg':>11}{'CPU busy':>9}{'stalled':>8}"]
    on_pg = result.get("bot_postgres")
    sides = [(n, s) for n, s in (("bot", bot), ("bot on PG", on_pg), ("echo floor", floor))
             if s]
    for phase in ALL_PHASES:
        for name, side in sides:
            row = side[phase]
            lines.append(
                f"  {phase:<13}{name:<11}{row['count']:>6}{row['p50_ms']:>8.1f}"
                f"{row['p90_ms']:>8.1f}{row['p99_ms']:>8.1f}{row['max_ms']:>8.1f}"
                f"{row[RATE]:>8.1f}{row['process_cpu_ms_per_message']:>11.2f}"
                f"{row['process_cpu_share']:>9.0%}{row['stalled']:>8}")
        ratio = result["ratio"][phase]
        verdict = "  ".join(
            f"{key} {ratio[key]:.2f} {'OK' if ratio[key] <= result['target_ratio'] else 'MISSED'}"
            for key in ("p50", "p99"))
        lines.append(f"  {phase:<13}bot / floor: {verdict}   (target ≤ {result['target_ratio']})")
        if on_pg:
            vs = result["postgres_vs_sqlite"][phase]
            enough = "OK" if vs["throughput"] >= PG_THROUGHPUT else "MISSED"
            lines.append(
                f"  {phase:<13}PostgreSQL / SQLite: throughput {vs['throughput']:.2f}"
                f"{'' if phase == 'paced' else f' (≥ {PG_THROUGHPUT} {enough})'}"
                f", p50 {vs['p50']:.2f}, p99 {vs['p99']:.2f}"
                f" (≤ {PG_P99} {'OK' if vs['p99'] <= PG_P99 else 'MISSED'})")
    for phase, each_is in (("back_to_back", "rounds"), (COLD, "starts")):
        for name, side in sides:
            if len(side[phase]["rounds"]) < 2:
                continue
            each = ", ".join(f"{r[RATE]:.0f} msg/s p50 {r['p50_ms']:.0f} p99 "
                             f"{r['p99_ms']:.0f}" for r in side[phase]["rounds"])
            lines.append(f"  {phase} {each_is}, {name}: {each}")
    starts = result["phases"][COLD]["starts_per_side"]
    lines.append(f"  cold: {starts} fresh processes a side, each {COLD_PEOPLE} people × "
                 f"{COLD_MESSAGES} \"{COLD_TEXT}\" from its first answer; first answer after "
                 "process start: bot "
                 + ", ".join(f"{s:.2f}" for s in bot[COLD]["first_answer_seconds"])
                 + " s, echo " + ", ".join(f"{s:.2f}" for s in floor[COLD]["first_answer_seconds"])
                 + f" s; bot stored (last start): {bot[COLD].get('stored')}")
    if on_pg:
        lines.append(f"  replies lost / doubled on PostgreSQL: {on_pg['replies_lost']} /"
                     f" {on_pg['replies_doubled']}; stored (last round): {on_pg['stored']}")
    lines.append(f"  replies lost / doubled: bot {bot['replies_lost']} / {bot['replies_doubled']},"
                 f" echo {floor['replies_lost']} / {floor['replies_doubled']};"
                 f" bot stored (last round): {bot['stored']}")
    lines.append(f"  load generator CPU busy (back-to-back): "
                 f"{bot['back_to_back']['load_generator_cpu_share']:.0%} with the bot, "
                 f"{floor['back_to_back']['load_generator_cpu_share']:.0%} with the echo")
    if "profile" in bot:
        lines.append("bot back-to-back " + print_profile(bot["profile"]))
    if "profile" in floor:
        lines.append("echo floor back-to-back " + print_profile(floor["profile"], lines=6))
    if "profile" in bot[COLD]:
        lines.append("bot cold " + print_profile(bot[COLD]["profile"]))
    if "profile" in floor[COLD]:
        lines.append("echo floor cold " + print_profile(floor[COLD]["profile"], lines=6))
    return "\n".join(lines)


if __name__ == "__main__":
    run_load_benchmark(__doc__ or "", "latency_telegram", "messages",
                       "measured messages a person in each phase", 2, "±15%%", main, report)
