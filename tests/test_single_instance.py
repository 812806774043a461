"""One running bot per SQLite database: a second `run` or `chat` on the same file is
refused with one line naming the holder's pid (status 2); a SIGKILL frees the lock, so a
restart after a crash is never blocked; one-shot commands work alongside; `restore`
refuses while a bot runs. The real `python -m bot.cli` in subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.app import App
from bot.config import Settings
from storage.instance_lock import InstanceLock, InstanceLocked, instance_lock, lock_path
from tests.conftest import TELEGRAM_TOKEN
from tests.servers.telegram_api import TelegramTestServer

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 30.0
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO) \S+: ")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CERCAP_", "TELEGRAM_", "LINE_"))}
    env.update(PYTHONPATH=str(ROOT), PYTHAINLP_OFFLINE="1", PYTHAINLP_READ_ONLY="1",
               CERCAP_DB=str(db), CERCAP_HTTP_HOST="127.0.0.1", CERCAP_QUIET_HOURS="off",
               CERCAP_HTTP_PORT=str(free_port()))
    env.update(extra)
    return env


class Bot:
    """A long-running `python -m bot.cli <command>`; the console chat's stdin is kept open."""

    def __init__(self, command: str, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", command], cwd=ROOT, env=env,
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def exited(self, timeout: float = DEADLINE) -> int:
        deadline = time.monotonic() + timeout
        while (status := self.process.poll()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"pid {self.pid} still running:\n{self.output()}")
            await asyncio.sleep(0.05)
        return status

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.process.stdin:
            self.process.stdin.close()


@pytest.fixture
def bots() -> Iterator[list[Bot]]:
    started: list[Bot] = []
    yield started
    for bot in started:
        bot.end()


async def holds_lock(bot: Bot, db: Path) -> None:
    """The lock file names the bot's pid (written only once the lock is taken)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        with contextlib.suppress(FileNotFoundError):
            if lock_path(db).read_text().strip() == str(bot.pid):
                return
        if bot.process.poll() is not None:
            raise AssertionError(f"the bot exited:\n{bot.output()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"pid {bot.pid} never took the lock:\n{bot.output()}")
        await asyncio.sleep(0.05)


async def healthy(bot: Bot, port: str) -> None:
    deadline = time.monotonic() + DEADLINE
    async with aiohttp.ClientSession() as http:
        while True:
            if bot.process.poll() is not None:
                raise AssertionError(f"the bot exited:\n{bot.output()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bot never became healthy:\n{bot.output()}")
            await asyncio.sleep(0.05)


async def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, cwd=ROOT, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), DEADLINE)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def refusal(pid: int, db: Path) -> list[str]:
    return [f"error: another cercap-bot (pid {pid}) is already running on {db}; stop it first"]


def said(err: str) -> list[str]:
    """stderr without the log's DEBUG and INFO lines."""
    return [line for line in err.splitlines() if not LOG_LINE.match(line)]


@pytest.mark.sqlite_only  # the instance lock is a SQLite file's
async def test_a_second_console_bot_is_refused_and_a_kill_frees_the_lock(
        db_path: Path, tmp_path: Path, bots: list[Bot]) -> None:
    env = clean_env(db_path)
    first = Bot("chat", env, tmp_path / "first.log")
    bots.append(first)
    await holds_lock(first, db_path)

    for command in ("run", "chat"):  # run: no tokens, so the console chat
        status, out, err = await cli(env, command)
        assert (status, said(err)) == (2, refusal(first.pid, db_path)), out
    assert first.process.poll() is None

    # One-shot commands work while it runs; restore refuses.
    status, out, err = await cli(env, "invite", "--role", "core_team", "--area", "350101")
    assert status == 0 and "code: " in out, err
    status, out, err = await cli(env, "areas", "list", "35")
    assert status == 0 and "3501\tdistrict" in out, err
    copy = tmp_path / "backups" / "copy.db"
    status, out, err = await cli(env, "backup", str(copy))
    assert status == 0 and copy.exists(), err
    status, out, err = await cli(env, "restore", str(copy))
    assert (status, said(err)) == (2, [f"error: a cercap-bot (pid {first.pid}) is running on "
                                       f"{db_path}; stop it before restoring"])

    # A crash (SIGKILL) leaves a stale pid in the lock file, but no lock.
    first.kill()
    assert lock_path(db_path).read_text().strip() == str(first.pid)
    second = Bot("run", env, tmp_path / "second.log")
    bots.append(second)
    await holds_lock(second, db_path)
    status, _, err = await cli(env, "chat")
    assert (status, said(err)) == (2, refusal(second.pid, db_path))

    # A clean stop (end of input) releases it: restore goes ahead.
    assert second.process.stdin is not None
    second.process.stdin.close()
    assert await second.exited() == 0, second.output()
    assert lock_path(db_path).read_text() == ""
    status, out, err = await cli(env, "restore", str(copy))
    assert status == 0 and "restored" in out, err


@pytest.mark.sqlite_only  # the instance lock is a SQLite file's
async def test_a_second_service_is_refused_and_a_restart_after_a_kill_starts(
        db_path: Path, tmp_path: Path, tg: TelegramTestServer, bots: list[Bot]) -> None:
    telegram = {"TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_BASE_URL": tg.origin}
    env = clean_env(db_path, **telegram)
    first = Bot("run", env, tmp_path / "first.log")
    bots.append(first)
    await healthy(first, env["CERCAP_HTTP_PORT"])

    other_port = clean_env(db_path, **telegram)  # another port: only the database is shared
    status, out, err = await cli(other_port, "run")
    assert (status, said(err)) == (2, refusal(first.pid, db_path)), out

    first.kill()
    again = Bot("run", env, tmp_path / "again.log")
    bots.append(again)
    await healthy(again, env["CERCAP_HTTP_PORT"])
    await holds_lock(again, db_path)
    again.process.send_signal(signal.SIGTERM)
    assert await again.exited() == 0, again.output()
    assert lock_path(db_path).read_text() == ""


# --- in one process -----------------------------------------------------------------------

def test_the_lock_is_per_open_file_and_released_on_exit(tmp_path: Path) -> None:
    db = tmp_path / "new folder" / "bot.db"  # the folder does not exist yet
    with instance_lock(db) as held:
        assert held.held and lock_path(db).read_text() == f"{os.getpid()}\n"
        with pytest.raises(InstanceLocked) as refused:
            InstanceLock(db).acquire()
        assert refused.value.pid == os.getpid()
        assert str(refused.value) == (f"another cercap-bot (pid {os.getpid()}) is already "
                                      f"running on {db}; stop it first")
    assert lock_path(db).read_text() == ""
    again = InstanceLock(db)
    again.acquire()
    again.release()
    again.release()  # twice is harmless


def test_a_database_that_is_not_a_file_takes_no_lock() -> None:
    for name in (":memory:", "postgresql://bot@db.example.org/cercap"):
        with instance_lock(name) as first, instance_lock(name) as second:
            assert not first.enabled and not second.enabled
    assert not Path(":memory:.lock").exists()


def _settings(db: Path, tmp_path: Path) -> Settings:
    return Settings(db_path=db, media_dir=tmp_path / "media", telegram_token=None,
                    telegram_bot_username=None, log_level="INFO")


@pytest.mark.sqlite_only  # the instance lock is a SQLite file's
async def test_apps_on_one_file_one_after_another_but_not_together(
        db_path: Path, tmp_path: Path) -> None:
    settings = _settings(db_path, tmp_path)
    for _ in range(2):  # start, stop, start again
        async with App(settings, []):
            with pytest.raises(InstanceLocked):
                async with App(settings, []):
                    pass
    async with App(settings, []), App(_settings(tmp_path / "other.db", tmp_path), []):
        pass  # distinct files do not conflict
