"""Shared pieces of the latency, throughput and memory benchmarks: seeding people, the bot
as a subprocess against the local platform servers, the scripted person's answers, the
bare echo bots that serve as the floor, and the figures (percentiles, RSS, CPU time).

The echo bots run as their own processes, exactly as the bot does:

    python -m bench.common telegram-echo --api ORIGIN --token TOKEN
    python -m bench.common line-echo --port PORT --api ORIGIN --secret S --token T
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTHAINLP_OFFLINE", "1")
os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")

from tests.report_walk import ANSWERS, START_REPORT, next_answer  # noqa: E402

TG_TOKEN = "888:BENCH"
LINE_SECRET = "bench-secret"
LINE_TOKEN = "bench-token"
VILLAGE = "35010101"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# The report flow's answers in order: what an echo bot (which asks nothing) is sent.
SCRIPT = (START_REPORT, *(answer for _, answer in ANSWERS))


def is_question(text: str, has_choices: bool) -> bool:
    """The last message of a reply: a question (the report flow's, or the menu's, which
    always comes with choices). A confirmation such as "saved #12" is followed by the menu."""
    return has_choices or any(words in text for words, _ in ANSWERS)


class Walker:
    """One simulated person: sends an answer, waits until the whole reply has arrived (its
    question), answers that. `scripted` walkers send the report flow's answers in order
    whatever comes back (for an echo bot, which asks nothing). Every reply must end in
    exactly one question, so questions received − messages sent counts doubled replies
    (and the reverse, lost ones)."""

    def __init__(self, name: str, complete: Callable[[str, bool], bool], scripted: bool
                 ) -> None:
        self.name = name
        self.complete = complete
        self.scripted = scripted
        self.sent = 0
        self.questions = 0
        self.last_text = ""
        self.sent_at = 0.0
        self.first_at: float | None = None
        self.waiting = False
        self.done = asyncio.Event()
        self.rng = random.Random(name)

    async def send(self, text: str) -> None:
        raise NotImplementedError

    def received(self, text: str, has_choices: bool, at: float) -> None:
        complete = self.complete(text, has_choices)
        self.questions += complete
        if not self.waiting:
            return
        if self.first_at is None:
            self.first_at = at
        self.last_text = text
        if complete:
            self.waiting = False
            self.done.set()

    async def walk(self, messages: int, latencies: list[float] | None,
                   timeout: float = 30.0, think: tuple[float, float] | None = None,
                   say: str | None = None) -> int:
        """Send `messages` answers one after the other, each `think` seconds (uniformly
        between the two) after the reply; returns how many replies did not come within
        `timeout` (the person then answers what it saw last). `say` sends that text every
        time (e.g. "/start") instead of walking the report flow."""
        stalled = 0
        for _ in range(messages):
            if think:
                await asyncio.sleep(self.rng.uniform(*think))
            text = say or (SCRIPT[self.sent % len(SCRIPT)] if self.scripted
                           else next_answer(self.last_text))
            self.first_at, self.waiting = None, True
            self.done.clear()
            self.sent += 1
            self.sent_at = time.monotonic()
            await self.send(text)
            try:
                await asyncio.wait_for(self.done.wait(), timeout)
            except TimeoutError:
                stalled += 1
                self.waiting = False
            if latencies is not None and self.first_at is not None:
                latencies.append(self.first_at - self.sent_at)
        return stalled


def answered_once(walkers: list[Walker]) -> dict[str, int]:
    """Replies lost and doubled, from each person's count of questions received."""
    return {"messages_sent": sum(w.sent for w in walkers),
            "replies_lost": sum(max(0, w.sent - w.questions) for w in walkers),
            "replies_doubled": sum(max(0, w.questions - w.sent) for w in walkers)}


def bot_reply_done(text: str, has_choices: bool) -> bool:
    return is_question(text, has_choices)


def echo_reply_done(text: str, has_choices: bool) -> bool:
    return True  # one echo for each message


# --- figures -------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_summary(seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {"count": len(ms), "p50_ms": round(percentile(ms, 50), 2),
            "p90_ms": round(percentile(ms, 90), 2), "p99_ms": round(percentile(ms, 99), 2),
            "max_ms": round(max(ms), 2) if ms else None,
            "mean_ms": round(sum(ms) / len(ms), 2) if ms else None}


def phase_figures(latencies: list[float], seconds: float, process_cpu: float, load_cpu: float,
                  stalled: int, rate_key: str) -> dict[str, Any]:
    """One measured phase: latencies, rate, and the CPU time of the measured process (the
    bot or the echo) and of this process (the servers and the people)."""
    handled = len(latencies)
    return {**latency_summary(latencies), "stalled": stalled, "seconds": round(seconds, 2),
            rate_key: round(handled / seconds, 1),
            "process_cpu_ms_per_message": round(process_cpu / max(handled, 1) * 1000, 3),
            "process_cpu_share": round(process_cpu / seconds, 3),
            "load_generator_cpu_share": round(load_cpu / seconds, 3),
            "_latencies": latencies, "_seconds": seconds, "_process_cpu": process_cpu,
            "_load_cpu": load_cpu}


SUMMED = ("stalled", "messages_sent", "replies_lost", "replies_doubled", "webhooks_refused")


def pool(rounds: list[dict[str, Any]], rate_key: str) -> dict[str, Any]:
    """The rounds of one phase as one: percentiles over every latency, rates and CPU over
    the total time; each round's own rate and percentiles are kept."""
    latencies = [x for r in rounds for x in r["_latencies"]]
    seconds = sum(r["_seconds"] for r in rounds)
    process_cpu = sum(r["_process_cpu"] for r in rounds)
    load_cpu = sum(r["_load_cpu"] for r in rounds)
    figures = phase_figures(latencies, seconds, process_cpu, load_cpu, 0, rate_key)
    figures = {k: v for k, v in figures.items() if not k.startswith("_")}
    for key in SUMMED:
        if key in rounds[0]:
            figures[key] = sum(r[key] for r in rounds)
    figures["rounds"] = [{rate_key: r[rate_key], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"]}
                         for r in rounds]
    return figures


def rss_mb(pid: int) -> float:
    """VmRSS of a process, in MB (10^6 bytes)."""
    return _status_kb(pid, "VmRSS") * 1024 / 1e6


def hwm_mb(pid: int) -> float:
    """VmHWM (peak RSS) of a process, in MB."""
    return _status_kb(pid, "VmHWM") * 1024 / 1e6


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection in this process (the test servers and the people) while a
    phase is measured: a full collection of its heap takes 30-60 ms, during which neither
    server answers, and it lands on whichever side is being measured (seen in the cold
    phase, half a second long, as one side's p99 doubling). Collected before, instead.
    Nested use leaves the outer one in charge."""
    if not gc.isenabled():
        yield
        return
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def self_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def write_result(name: str, result: dict[str, Any]) -> Path:
    folder = ROOT / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return path


def write_raw_profile(name: str, raw: Path) -> Path:
    """Keep py-spy's collapsed stacks (one line a stack: frames;... count), e.g. for
    flamegraph.pl or speedscope, outside the repository (they are large)."""
    path = Path(tempfile.gettempdir()) / "cercap-bench" / f"{name}.pyspy.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(raw.read_text(errors="replace"))
    return path


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0],
            "load_average_at_start": load_average()}


def other_benchmarks() -> list[str]:
    """Other `bench.` processes running now (not this one nor its children)."""
    mine = {os.getpid(), os.getppid()}
    try:
        out = subprocess.run(["pgrep", "-af", r"bench\."], capture_output=True, text=True,
                             check=False).stdout
    except FileNotFoundError:
        return []
    found = []
    for line in out.splitlines():
        pid_text, _, command = line.partition(" ")
        pid = int(pid_text)
        if pid in mine or _parent(pid) in mine or "pgrep" in command:
            continue
        found.append(line)
    return found


def _parent(pid: int) -> int:
    with contextlib.suppress(OSError, IndexError, ValueError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return -1


def run_load_benchmark(doc: str, name: str, unit: str, unit_help: str, rounds: int,
                       spread: str,
                       main: Callable[[int, int, int, bool, bool], Awaitable[dict[str, Any]]],
                       report: Callable[[dict[str, Any]], str]) -> None:
    """The command line the latency and throughput benchmarks share: people, how many
    `unit` a person, rounds, --profile, --no-wait; prints the table, writes the JSON."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument(f"--{unit}", type=int, default=10, help=unit_help)
    parser.add_argument("--rounds", type=int, default=rounds,
                        help=f"bot-then-echo rounds, pooled (runs vary by {spread})")
    parser.add_argument("--profile", action="store_true",
                        help="sample both with py-spy (pip install py-spy) while measuring")
    parser.add_argument("--no-wait", action="store_true",
                        help="measure even while another benchmark runs")
    parser.add_argument("--postgres", action="store_true",
                        help="each round also runs the bot on a throwaway PostgreSQL (a fresh"
                             " database each time) beside the bot on SQLite; figures go to"
                             f" {name}-postgres.json")
    args = parser.parse_args()
    if not args.no_wait:
        wait_until_quiet()
    load_at_start = load_average()
    outcome = asyncio.run(main(args.people, getattr(args, unit), args.rounds, args.profile,
                               args.postgres))
    outcome["machine"].update(load_average_at_start=load_at_start,
                              load_average_at_end=load_average())
    print(report(outcome))
    print(load_line(outcome["machine"]))
    suffix = ("-postgres" if args.postgres else "") + ("-profiled" if args.profile else "")
    write_result(name + suffix, outcome)


# --- PostgreSQL ------------------------------------------------------------------------------

@contextlib.contextmanager
def postgres_server(wanted: bool) -> Iterator[Any]:
    """A throwaway PostgreSQL server (tests/pg_server.py: durability off, as SQLite's
    synchronous=NORMAL does not wait for the disk either) if wanted, else None."""
    if not wanted:
        yield None
        return
    from tests.pg_server import throwaway_server

    with throwaway_server() as server:
        yield server


def fresh_database(server: Any, name: str) -> str:
    """A new, empty database on the throwaway server: its URL."""
    import psycopg

    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' LOCALE \'C\''
                      " TEMPLATE template0")
    return str(server.url(name))


def postmaster_pid(server: Any) -> int:
    return int((server.folder / "data" / "postmaster.pid").read_text().split()[0])


def tree_cpu_seconds(root: int) -> float:
    """CPU time used so far by a process and its living children (the PostgreSQL server:
    the postmaster and its backends)."""
    total = 0.0
    pending = [root]
    while pending:
        pid = pending.pop()
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += cpu_seconds(pid)
            for task in Path(f"/proc/{pid}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
    return total


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def load_line(figures: dict[str, Any]) -> str:
    """The machine's load average (1, 5, 15 min) as the run started and ended: on this
    2-core machine, other work running meanwhile shows here."""
    return (f"  machine load average (1/5/15 min): at start {figures['load_average_at_start']},"
            f" at end {figures.get('load_average_at_end')}, {figures['cpus']} CPUs")


def wait_until_quiet(max_wait: float = 600.0) -> None:
    """Measure alone: wait while another benchmark runs (a crash run takes minutes)."""
    deadline = time.monotonic() + max_wait
    while (others := other_benchmarks()) and time.monotonic() < deadline:
        print(f"waiting for another benchmark to end: {others[0]}", flush=True)
        time.sleep(10)
    if other_benchmarks():
        print("warning: another benchmark is still running; figures may be off", flush=True)


# --- people ------------------------------------------------------------------------------

def telegram_ids(count: int, first: int = 7_000_000) -> list[int]:
    return [first + i for i in range(count)]


def line_ids(count: int, first: int = 0) -> list[str]:
    return [f"U{first + i:032x}" for i in range(count)]


async def seed(db_path: Path, telegram: list[int], line: list[str]) -> None:
    """Village committee members of one village, each with an identity on one channel,
    written in one transaction (fast enough for tens of thousands)."""
    from storage import areas
    from storage.db import Database
    from storage.timestamps import to_db

    now = to_db(datetime.now(UTC))
    members = [("telegram", str(i)) for i in telegram] + [("line", u) for u in line]
    async with Database(db_path) as db, db.transaction() as conn:
        await areas.add_village(conn, VILLAGE[:6], int(VILLAGE[6:]), "village")
        async with conn.execute("SELECT COALESCE(MAX(id), 0) FROM people") as cur:
            first = int((await cur.fetchone())[0]) + 1
        ids = range(first, first + len(members))
        await conn.executemany(
            "INSERT INTO people (id, display_name, language, created_at) VALUES (?, ?, 'th', ?)",
            [(pid, f"{channel} {user}", now) for pid, (channel, user) in zip(ids, members,
                                                                               strict=True)])
        await conn.executemany(
            "INSERT INTO identities (channel, platform_user_id, chat_id, person_id, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(channel, user, user, pid, now) for pid, (channel, user) in zip(ids, members,
                                                                              strict=True)])
        await conn.executemany(
            "INSERT INTO role_grants (person_id, role, area_code, granted_at)"
            " VALUES (?, 'village_committee', ?, ?)", [(pid, VILLAGE, now) for pid in ids])


def bot_store(db_path: Path | str) -> dict[str, int]:
    """What the bot stored: reports saved, updates handled, replies not delivered (on a
    SQLite file or a PostgreSQL URL)."""
    import sqlite3

    if str(db_path).startswith("postgresql://"):
        import psycopg

        opened: Any = psycopg.connect(str(db_path), autocommit=True)
    else:
        opened = sqlite3.connect(db_path)
    with contextlib.closing(opened) as conn:
        def count(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])

        return {"reports_saved": count("SELECT COUNT(*) FROM problems"),
                "updates_handled": count("SELECT (SELECT COUNT(*) FROM processed_updates)"
                                         " + (SELECT COUNT(*) FROM inbox"
                                         "    WHERE status = 'handled')"),
                "outbox_sent": count("SELECT COUNT(*) FROM outbox WHERE status = 'sent'"),
                "outbox_not_sent": count("SELECT COUNT(*) FROM outbox WHERE status != 'sent'")}


# --- processes -----------------------------------------------------------------------------

def free_port() -> int:
    from tests.crash_suite import free_port as free

    return free()


def bot_env(folder: Path, port: int, *, telegram_origin: str | None = None,
            line_origin: str | None = None, db: str | None = None) -> dict[str, str]:
    """The environment of `python -m bot.cli run` against the local servers (README,
    Configuration); `db` a PostgreSQL URL instead of the folder's SQLite file."""
    env = {**os.environ, "CERCAP_DB": db or str(folder / "bench.db"),
           "CERCAP_MEDIA_DIR": str(folder / "media"), "CERCAP_HTTP_HOST": "127.0.0.1",
           "CERCAP_HTTP_PORT": str(port), "CERCAP_QUIET_HOURS": "off",
           "CERCAP_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    for key in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL", "LINE_CHANNEL_ACCESS_TOKEN",
                "LINE_CHANNEL_SECRET", "LINE_API_HOST"):
        env.pop(key, None)
    if telegram_origin:
        env.update(TELEGRAM_BOT_TOKEN=TG_TOKEN, TELEGRAM_API_BASE_URL=telegram_origin)
    if line_origin:
        env.update(LINE_CHANNEL_ACCESS_TOKEN=LINE_TOKEN, LINE_CHANNEL_SECRET=LINE_SECRET,
                   LINE_API_HOST=line_origin)
    return env


BOT_COMMAND = (sys.executable, "-m", "bot.cli", "run")


def profiled(command: tuple[str, ...], output: Path) -> tuple[str, ...]:
    """The same command under pyinstrument (a statistical profiler: it samples the stack
    every millisecond), writing a text report to `output` when the process exits."""
    return (sys.executable, "-m", "pyinstrument", "--interval", "0.001", "-r", "text",
            "--show-all", "-o", str(output), *command[1:])


@dataclass
class Process:
    """A bot (or echo bot) in its own process; its output goes to `log`."""

    command: tuple[str, ...]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.started_at = time.monotonic()
            self.popen = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=out,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def check_alive(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{self.command[2:]} exited; its log ends:\n{tail}")

    async def wait_healthy(self, port: int, timeout: float = 30.0) -> float:
        """Seconds from process start until GET /healthz answers 200."""
        import aiohttp

        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while True:
                self.check_alive()
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            return time.monotonic() - self.started_at
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no /healthz within {timeout} s; see {self.log}")
                await asyncio.sleep(0.01)

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM, as a service manager stops it; SIGKILL if it does not end."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


class Profiler:
    """py-spy sampling a running process from outside (every thread, only while it runs
    Python or waits in a C call, not while idle), for the measured phase only."""

    def __init__(self, pid: int, raw: Path, rate: int = 200) -> None:
        self.raw = raw
        executable = Path(sys.executable).parent / "py-spy"
        if not executable.exists():
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
        self.popen = subprocess.Popen(
            [str(executable), "record", "-p", str(pid), "-r", str(rate), "-f", "raw",
             "--threads", "--nolineno", "-o", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        self.popen.send_signal(2)  # SIGINT: py-spy writes its file and ends
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


# Leaf frames where a thread waits rather than works (py-spy cannot always tell): the
# event loop's epoll, aiosqlite's worker waiting for its next query, idle pool threads.
WAITING = ("EpollSelector.select", "_connection_worker_thread", "_worker", "Condition.wait",
           "Event.wait", "Thread._wait_for_tstate_lock")


def profile_summary(raw: Path, top: int = 15) -> dict[str, Any]:
    """Top functions of a py-spy raw file, over all threads, leaving out samples of threads
    waiting (see WAITING): by own samples, and by samples spent under them (inclusive)."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = waiting = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")[1:]]  # [0] is the thread
        if not frames or frames[-1].split(" (")[0] in WAITING:
            waiting += count
            continue
        total += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count

    def ranked(table: dict[str, int]) -> list[dict[str, Any]]:
        best = sorted(table.items(), key=lambda kv: -kv[1])[:top]
        return [{"function": name, "samples": n, "share": round(n / max(total, 1), 4)}
                for name, n in best]

    plumbing = ("(asyncio/base_events.py)", "(asyncio/runners.py)", "(<frozen runpy>)",
                "(threading.py)", "(asyncio/events.py)", "(bot/cli.py)", "(bench/common.py)")
    inclusive = {k: v for k, v in inclusive.items() if not k.endswith(plumbing)}
    project = {k: v for k, v in inclusive.items()
               if any(f"({part}/" in k for part in ("bot", "handlers", "storage", "locales"))}
    return {"busy_samples": total, "waiting_samples": waiting, "own": ranked(own),
            "inclusive": ranked(inclusive), "project_inclusive": ranked(project)}


def _frame(frame: str) -> str:
    """'handle (handlers/engine.py)' as py-spy writes it; site-packages paths shortened."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


def print_profile(summary: dict[str, Any], lines: int = 12) -> str:
    out = [f"profile: {summary['busy_samples']:,} busy samples (py-spy, every thread; "
           f"{summary['waiting_samples']:,} waiting left out); shares of the busy ones"]
    for title, key in (("own time", "own"), ("inclusive, project code", "project_inclusive"),
                       ("inclusive, everything", "inclusive")):
        out.append(f"  top by {title}:")
        out += [f"    {row['share']:6.1%}  {row['function']}" for row in summary[key][:lines]]
    return "\n".join(out)


def echo_command(kind: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "bench.common", kind, *args)


# --- the floor: bare echo bots ---------------------------------------------------------------

async def telegram_echo(api_origin: str, token: str) -> None:
    """The smallest python-telegram-bot bot: Application + MessageHandler sending the text
    back, long polling with the library's defaults (updates handled one at a time, as in
    the bot)."""
    import signal

    from telegram import Update
    from telegram.ext import Application, ContextTypes, MessageHandler, filters

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None and update.effective_message is not None
        await context.bot.send_message(update.effective_chat.id,
                                       update.effective_message.text or "")

    application = (Application.builder().token(token).base_url(f"{api_origin}/bot")
                   .base_file_url(f"{api_origin}/file/bot").build())
    application.add_handler(MessageHandler(filters.TEXT, echo))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling()
        await stop.wait()
        await application.updater.stop()
        await application.stop()


async def line_echo(port: int, api_origin: str, secret: str, token: str) -> None:
    """The smallest line-bot-sdk webhook: aiohttp + WebhookParser + AsyncMessagingApi,
    replying with the text inside the request (the SDK's own aiohttp example)."""
    import signal

    from aiohttp import web
    from linebot.v3 import WebhookParser
    from linebot.v3.exceptions import InvalidSignatureError
    from linebot.v3.messaging import (
        AsyncApiClient,
        AsyncMessagingApi,
        Configuration,
        ReplyMessageRequest,
        TextMessage,
    )
    from linebot.v3.webhooks import MessageEvent, TextMessageContent

    parser = WebhookParser(secret)
    client = AsyncApiClient(Configuration(host=api_origin, access_token=token))
    api = AsyncMessagingApi(client)

    async def callback(request: web.Request) -> web.Response:
        signature = request.headers.get("X-Line-Signature", "")
        body = await request.text()
        try:
            events = parser.parse(body, signature)
        except InvalidSignatureError:
            return web.Response(status=400)
        for event in events:
            if isinstance(event, MessageEvent) and isinstance(event.message,
                                                              TextMessageContent):
                await api.reply_message(ReplyMessageRequest(
                    reply_token=event.reply_token,
                    messages=[TextMessage(text=event.message.text)]))
        return web.Response(text="OK")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/line/callback", callback)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    await client.close()


def _echo_main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True)
    tg = sub.add_parser("telegram-echo")
    tg.add_argument("--api", required=True)
    tg.add_argument("--token", default=TG_TOKEN)
    ln = sub.add_parser("line-echo")
    ln.add_argument("--port", type=int, required=True)
    ln.add_argument("--api", required=True)
    ln.add_argument("--secret", default=LINE_SECRET)
    ln.add_argument("--token", default=LINE_TOKEN)
    args = parser.parse_args()
    if args.kind == "telegram-echo":
        asyncio.run(telegram_echo(args.api, args.token))
    else:
        asyncio.run(line_echo(args.port, args.api, args.secret, args.token))


if __name__ == "__main__":
    _echo_main()
