"""Shared fixtures: a real SQLite file per test, a clock that moves only when told,
and the console channel driven as a person would drive it."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

os.environ.setdefault("PYTHAINLP_OFFLINE", "1")
os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")

from bot import demo
from bot.console import ConsoleChat, ConsoleSender
from bot.outbox_sender import OutboxSender
from bot.summary_renderer import SummaryRenderer
from handlers.clock import FixedClock
from handlers.engine import Engine, EngineSettings
from storage.db import Database

# Hypothesis (the fuzz tests): on CI the same examples every run (derived from each test,
# not from a random seed) and no example database, so a run never replays a failure an
# earlier run stored; locally new random examples every run, and a failure found is kept
# in .hypothesis/ and tried first until it is fixed. HYPOTHESIS_PROFILE=ci|dev chooses.
# No deadline on CI: a shared machine's pauses are not the code's slowness.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True,
                                     deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.register_profile("dev", derandomize=False, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or (
    "ci" if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    else "dev"))

# 10:00 in Bangkok on 10 Jan 2025 (B.E. 2568).
START = datetime(2025, 1, 10, 3, 0, tzinfo=UTC)


# ---- the database engine: every test that uses a database runs on SQLite and on PostgreSQL
# (`--db-engine sqlite|postgres|both`, default both; CERCAP_TEST_DB_ENGINE the same). On
# PostgreSQL one throwaway server serves the session (tests/pg_server.py), each test gets its
# own database copied from a migrated template, and `db_path` is its postgresql:// URL.
ENGINES = ("sqlite", "postgres")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db-engine", choices=("sqlite", "postgres", "both"),
                     default=os.environ.get("CERCAP_TEST_DB_ENGINE") or "both",
                     help="the database engine(s) the database tests run on (default both)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: the test is about SQLite's file itself")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_engine" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--db-engine")
    engines = ENGINES if chosen == "both" else (chosen,)
    if metafunc.definition.get_closest_marker("sqlite_only"):
        engines = tuple(e for e in engines if e == "sqlite") or ("sqlite",)
    metafunc.parametrize("db_engine", engines, indirect=True, scope="session")


@pytest.fixture(scope="session")
def db_engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    from tests.pg_server import throwaway_server

    with throwaway_server() as server:
        yield server


@pytest.fixture(scope="session")
def pg_template(pg_server: object) -> str:
    """A migrated database (with every tambon of Thailand) each test's database copies."""
    import psycopg

    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:  # type: ignore[attr-defined]
        admin.execute("CREATE DATABASE cercap_template")

    async def build() -> None:
        async with Database(pg_server.url("cercap_template")):  # type: ignore[attr-defined]
            pass

    asyncio.run(build())
    return "cercap_template"


_pg_databases = iter(range(1, 10**9))


def _pg_database(pg_server: object, template: str) -> Iterator[str]:
    import psycopg

    name = f"t{next(_pg_databases)}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:  # type: ignore[attr-defined]
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
    yield pg_server.url(name)  # type: ignore[attr-defined]
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:  # type: ignore[attr-defined]
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database from the template, for tests of PostgreSQL alone."""
    if request.config.getoption("--db-engine") == "sqlite":
        pytest.skip("PostgreSQL only (--db-engine sqlite chosen)")
    server = request.getfixturevalue("pg_server")
    yield from _pg_database(server, request.getfixturevalue("pg_template"))


@pytest.fixture(scope="session")
def migrated_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Loading every tambon of Thailand takes a moment: do it once and copy the file."""
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def build() -> None:
        async with Database(path) as db:
            await db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    asyncio.run(build())
    return path


@pytest.fixture
def db_path(tmp_path: Path, db_engine: str, request: pytest.FixtureRequest) -> Iterator[Path]:
    """The test's database: a SQLite file (a Path), or on PostgreSQL a fresh database's URL
    (a str: `Database`, `CERCAP_DB` and Settings take either)."""
    if db_engine == "postgres":
        server = request.getfixturevalue("pg_server")
        yield from _pg_database(server, request.getfixturevalue("pg_template"))  # type: ignore[misc]
        return
    path = tmp_path / "cercap.db"
    shutil.copy(request.getfixturevalue("migrated_db_template"), path)
    yield path


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


class Harness:
    """The console channel, with everything it prints captured per call."""

    def __init__(self, db: Database, clock: FixedClock, media_dir: Path | None = None) -> None:
        self.db = db
        self.clock = clock
        self.media_dir = media_dir or Path(tempfile.mkdtemp(prefix="cercap-media-"))
        self.lines: list[str] = []
        self.screen = ConsoleSender(self.lines.append)
        self.engine = Engine(db, clock, EngineSettings(bot_username="cercap_test_bot"))
        renderer = SummaryRenderer(db, self.media_dir, clock)
        self.sender = OutboxSender(db, [self.screen], clock, prepare=renderer.prepare)
        self.engine.on_enqueued(self.sender.wake)
        self.chat = ConsoleChat(db, self.engine, self.sender, self.screen)

    async def start(self, persona: str = "1") -> str:
        await self.chat.load_personas()
        await self.chat.switch(persona)
        return self.take()

    async def type(self, line: str) -> str:
        await self.chat.type(line)
        return self.take()

    def take(self) -> str:
        out = "\n".join(self.lines)
        self.lines.clear()
        return out

    async def scalar(self, sql: str, *params: object) -> object:
        async with self.db.read() as conn, conn.execute(sql, params) as cur:
            row = await cur.fetchone()
        return row[0] if row else None


@pytest.fixture
async def database(db_path: Path) -> AsyncIterator[Database]:
    async with Database(db_path) as db:
        yield db


@pytest.fixture
async def seeded(database: Database, clock: FixedClock) -> Database:
    async with database.transaction() as conn:
        await demo.seed(conn, clock.now())
    return database


@pytest.fixture
async def console(seeded: Database, clock: FixedClock, tmp_path: Path) -> Harness:
    return Harness(seeded, clock, tmp_path / "media")


@pytest.fixture(autouse=True)
def no_telegram_cloud() -> object:
    """Any attempt to reach api.telegram.org fails the test."""
    from tests.servers.telegram_api import block_telegram_cloud

    with block_telegram_cloud() as attempts:
        yield
    assert attempts == [], f"tried to reach Telegram's servers: {attempts}"


@pytest.fixture
async def seeded_db_path(db_path: Path, clock: FixedClock) -> Path:
    """A database file with the demo tambon, closed again, for a bot process to open."""
    async with Database(db_path) as db, db.transaction() as conn:
        await demo.seed(conn, clock.now())
    return db_path


async def scalar_at(db_path: Path | str, sql: str, *params: object) -> object:
    """The first column of the first row of `sql` on the test's database, through a
    connection of its own (beside a running bot), on either engine."""
    async with Database(db_path) as db, db.read() as conn, conn.execute(sql, params) as cur:
        row = await cur.fetchone()
    return row[0] if row else None


async def eventually(check: object, timeout: float = 5.0, what: str = "the condition") -> None:
    """Poll an async condition with a deadline (for state another task writes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():  # type: ignore[operator]
        if loop.time() > deadline:
            raise TimeoutError(f"{what} did not hold within {timeout}s")
        await asyncio.sleep(0.02)


TELEGRAM_TOKEN = "123456:TEST-TOKEN-cercap"
LINE_SECRET = "line-channel-secret-for-tests"
LINE_TOKEN = "line-access-token-for-tests"


def line_settings(db_path: Path, server: object, media: Path, **extra: object) -> object:
    """Settings of a bot on the local LINE server (its `origin`), web server on a free port."""
    from bot.config import Settings

    values: dict[str, object] = {
        "db_path": db_path, "media_dir": media, "telegram_token": None,
        "telegram_bot_username": None, "log_level": "INFO", "http_host": "127.0.0.1",
        "http_port": 0, "line_access_token": LINE_TOKEN, "line_channel_secret": LINE_SECRET,
        "line_api_host": server.origin}  # type: ignore[attr-defined]
    return Settings(**{**values, **extra})  # type: ignore[arg-type]


@pytest.fixture
async def tg() -> AsyncIterator[object]:
    """A local Telegram Bot API server on 127.0.0.1."""
    from tests.servers.telegram_api import TelegramTestServer

    async with TelegramTestServer(token=TELEGRAM_TOKEN) as server:
        yield server


@pytest.fixture
async def telegram_app(tg: object) -> AsyncIterator[object]:
    """The real python-telegram-bot Application, talking to the local Bot API server."""
    from telegram.ext import ApplicationBuilder

    app = (ApplicationBuilder().token(TELEGRAM_TOKEN).base_url(tg.base_url)  # type: ignore[attr-defined]
           .base_file_url(tg.base_file_url).updater(None).build())  # type: ignore[attr-defined]
    await app.initialize()
    yield app
    await app.shutdown()


@pytest.fixture
async def line() -> AsyncIterator[object]:
    """A local LINE Messaging API server on 127.0.0.1."""
    from tests.servers.line_api import LineTestServer

    async with LineTestServer(channel_secret=LINE_SECRET, access_token=LINE_TOKEN) as server:
        yield server
