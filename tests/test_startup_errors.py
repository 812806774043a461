"""Start-up errors: every bad setting ends `cercap-bot run` with one line of plain English
on stderr and exit status 2, and no secret appears in any output line.

The table runs the real `python -m bot.cli run` in a subprocess for each case."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot import log_scrub
from bot.config import ConfigError, Settings
from tests.conftest import TELEGRAM_TOKEN
from tests.servers.line_api import LineTestServer
from tests.servers.telegram_api import TelegramTestServer

ROOT = Path(__file__).resolve().parent.parent
# A line of the bot's log at DEBUG or INFO (format in bot/cli.py): information, not an error.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO) \S+: ")
REJECTED_TOKEN = "987654321:AAF-rejected_token-Telegram-does-not-know"
LINE_TOKEN = "line-channel-access-token-never-printed"
WEBHOOK_URL = "https://bot.example.org/telegram/webhook"
BAD_SECRET = "has spaces & symbols, never printed"
LONG_SECRET = "x" * 257
UNPRIVILEGED = 65534  # nobody, on every Linux


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Place:
    """Where a case runs: a folder of its own, the local Telegram server, a free port."""

    folder: Path
    tg: TelegramTestServer
    port: int
    line: LineTestServer | None = None
    held: list[socket.socket] = field(default_factory=list)

    def occupy_port(self) -> None:
        s = socket.socket()
        s.bind(("127.0.0.1", self.port))
        s.listen()
        self.held.append(s)

    def telegram(self, token: str = TELEGRAM_TOKEN) -> dict[str, str]:
        return {"TELEGRAM_BOT_TOKEN": token, "TELEGRAM_API_BASE_URL": self.tg.origin}

    def line_channel(self, token: str) -> dict[str, str]:
        assert self.line is not None
        return {"LINE_CHANNEL_ACCESS_TOKEN": token, "LINE_CHANNEL_SECRET": "line-secret",
                "LINE_API_HOST": self.line.origin}


@dataclass(frozen=True)
class Case:
    env: Callable[[Place], dict[str, str]]
    says: tuple[str, ...]
    secrets: tuple[str, ...] = ()
    level: str = "INFO"
    unprivileged: bool = False  # run as an ordinary user (root may write anywhere)


def _unwritable_folder(place: Place) -> dict[str, str]:
    folder = place.folder / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return {"CERCAP_DB": str(folder / "cercap.db")}


def _port_in_use(place: Place) -> dict[str, str]:
    place.occupy_port()
    return place.telegram()


CASES: dict[str, Case] = {
    "port not a number": Case(lambda p: {"CERCAP_HTTP_PORT": "abc"},
                              ("CERCAP_HTTP_PORT", "'abc'")),
    "port out of range": Case(lambda p: {"CERCAP_HTTP_PORT": "70000"},
                              ("CERCAP_HTTP_PORT", "1 to 65535")),
    "media size with a unit": Case(lambda p: {"CERCAP_MEDIA_MAX_BYTES": "10MB"},
                                   ("CERCAP_MEDIA_MAX_BYTES", "whole number of bytes")),
    "timeout not a number": Case(lambda p: {"TELEGRAM_REQUEST_TIMEOUT": "x"},
                                 ("TELEGRAM_REQUEST_TIMEOUT", "seconds")),
    "webhook without a secret": Case(
        lambda p: {**p.telegram(), "TELEGRAM_WEBHOOK_URL": WEBHOOK_URL},
        ("TELEGRAM_WEBHOOK_SECRET is required with TELEGRAM_WEBHOOK_URL",),
        (TELEGRAM_TOKEN,)),
    "webhook secret with bad characters": Case(
        lambda p: {**p.telegram(), "TELEGRAM_WEBHOOK_URL": WEBHOOK_URL,
                   "TELEGRAM_WEBHOOK_SECRET": BAD_SECRET},
        ("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters",), (TELEGRAM_TOKEN, BAD_SECRET)),
    "webhook secret too long": Case(
        lambda p: {**p.telegram(), "TELEGRAM_WEBHOOK_URL": WEBHOOK_URL,
                   "TELEGRAM_WEBHOOK_SECRET": LONG_SECRET},
        ("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters", "it has 257"),
        (TELEGRAM_TOKEN, LONG_SECRET)),
    "LINE token without its secret": Case(
        lambda p: {"LINE_CHANNEL_ACCESS_TOKEN": LINE_TOKEN},
        ("LINE_CHANNEL_SECRET is required with LINE_CHANNEL_ACCESS_TOKEN",), (LINE_TOKEN,)),
    "database is a directory": Case(
        lambda p: {"CERCAP_DB": str(p.folder)}, ("CERCAP_DB is a directory",)),
    "database folder not writable": Case(
        _unwritable_folder, ("cannot write in the folder", "read-only", "CERCAP_DB="),
        unprivileged=True),
    "port already in use": Case(
        _port_in_use, ("cannot listen on 127.0.0.1:", "address already in use",
                       "CERCAP_HTTP_PORT"), (TELEGRAM_TOKEN,)),
    "token rejected by Telegram": Case(
        lambda p: p.telegram(REJECTED_TOKEN), ("Telegram rejected TELEGRAM_BOT_TOKEN",
                                               "@BotFather"), (REJECTED_TOKEN,)),
    "token rejected by LINE": Case(
        lambda p: p.line_channel(LINE_TOKEN), ("LINE rejected LINE_CHANNEL_ACCESS_TOKEN",
                                               "LINE Developers console"), (LINE_TOKEN,)),
    "token rejected, logging at DEBUG": Case(
        lambda p: p.telegram(REJECTED_TOKEN), ("Telegram rejected TELEGRAM_BOT_TOKEN",),
        (REJECTED_TOKEN,), level="DEBUG"),
}


@pytest.fixture
def case_folder() -> Iterator[Path]:
    """Not pytest's tmp_path: its folders are private to root, and one case runs as an
    ordinary user who must reach this one."""
    folder = Path(tempfile.mkdtemp(prefix="cercap-startup-"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CERCAP_", "TELEGRAM_", "LINE_"))}
    env.update(PYTHONPATH=str(ROOT), PYTHAINLP_OFFLINE="1", PYTHAINLP_READ_ONLY="1",
               CERCAP_HTTP_HOST="127.0.0.1", CERCAP_QUIET_HOURS="off")
    env.update(extra)
    return env


async def run_bot(env: dict[str, str], *, unprivileged: bool = False,
                  timeout: float = 60) -> tuple[int, str, str]:
    as_user: dict[str, object] = {}
    if unprivileged and os.geteuid() == 0:
        as_user = {"user": UNPRIVILEGED, "group": UNPRIVILEGED, "extra_groups": []}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", cwd=ROOT, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, **as_user)  # type: ignore[arg-type]
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("name", list(CASES))
async def test_a_bad_setting_gives_one_line_and_status_2(
        name: str, case_folder: Path, tg: TelegramTestServer, line: LineTestServer) -> None:
    case = CASES[name]
    place = Place(case_folder, tg, free_port(), line)  # the LINE server knows another token
    try:
        env = clean_env(CERCAP_DB=str(case_folder / "cercap.db"),
                        CERCAP_HTTP_PORT=str(place.port), CERCAP_LOG_LEVEL=case.level)
        env.update(case.env(place))
        status, out, err = await run_bot(env, unprivileged=case.unprivileged)
    finally:
        for s in place.held:
            s.close()
    said = [line for line in err.splitlines() if not LOG_LINE.match(line)]
    assert status == 2, err
    assert "Traceback" not in err
    assert len(said) == 1 and said[0].startswith("error: "), err
    for words in case.says:
        assert words in said[0], said[0]
    for secret in case.secrets:
        assert secret not in out and secret not in err
        half = secret.partition(":")[2]
        assert not half or half not in out + err
    if case.level == "DEBUG":
        # PTB logs its endpoint URL, /bot<token>, at DEBUG: the filter masked it.
        assert "/bot***" in err


def test_a_bad_quiet_hours_or_log_level_is_a_config_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value, words in (("CERCAP_QUIET_HOURS", "evening", "20:00-07:00"),
                               ("CERCAP_LOG_LEVEL", "LOUD", "DEBUG, INFO"),
                               ("CERCAP_HTTP_PORT", "0", "1 to 65535"),
                               ("CERCAP_MEDIA_MAX_BYTES", "-5", "whole number"),
                               ("TELEGRAM_REQUEST_TIMEOUT", "nan", "above 0"),
                               ("TELEGRAM_REQUEST_TIMEOUT", "0", "above 0"),
                               ("CERCAP_PUBLIC_URL", "bot.example.org", "https://"),
                               ("TELEGRAM_API_BASE_URL", "127.0.0.1:8081", "http://")):
        with monkeypatch.context() as m:
            m.setenv(name, value)
            with pytest.raises(ConfigError, match=name) as raised:
                Settings.from_env()
            assert words in str(raised.value) and "\n" not in str(raised.value)


def test_good_settings_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("CERCAP_HTTP_PORT", "9090"), ("CERCAP_MEDIA_MAX_BYTES", "5000000"),
                        ("TELEGRAM_REQUEST_TIMEOUT", "2.5"), ("CERCAP_LOG_LEVEL", "debug"),
                        ("TELEGRAM_WEBHOOK_URL", WEBHOOK_URL),
                        ("TELEGRAM_WEBHOOK_SECRET", "A-z_09" * 40),
                        ("LINE_CHANNEL_ACCESS_TOKEN", LINE_TOKEN),
                        ("LINE_CHANNEL_SECRET", "s"), ("CERCAP_QUIET_HOURS", "off")):
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    assert (settings.http_port, settings.media_max_bytes, settings.telegram_request_timeout,
            settings.log_level) == (9090, 5_000_000, 2.5, "DEBUG")
    assert settings.telegram_webhook_secret == "A-z_09" * 40


# --- the log filter ---------------------------------------------------------------------

SECRETS = {"TELEGRAM_BOT_TOKEN": "5555:SECRET-of-the-bot-token_xyz",
           "LINE_CHANNEL_ACCESS_TOKEN": "line/access+token==",
           "LINE_CHANNEL_SECRET": "the-line-channel-secret",
           "TELEGRAM_WEBHOOK_SECRET": "webhook-secret-1234",
           "CERCAP_MEDIA_SECRET": "media-secret-5678"}


@pytest.fixture
def scrubbed_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[logging.Logger, list[str]]]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    lines: list[str] = []

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    root = logging.getLogger("scrub-test")
    handler = Lines()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root.addHandler(handler)
    root.propagate = False
    root.setLevel(logging.DEBUG)
    log_scrub.install(logger=root)
    log_scrub.install(logger=root)  # twice: still one filter
    assert len(handler.filters) == 1
    child = logging.getLogger("scrub-test.httpx")  # propagates to the filtered handler
    yield child, lines
    root.removeHandler(handler)
    log_scrub.install([], logger=root)


def test_secrets_are_masked_in_messages_arguments_and_tracebacks(
        scrubbed_log: tuple[logging.Logger, list[str]]) -> None:
    log, lines = scrubbed_log
    token = SECRETS["TELEGRAM_BOT_TOKEN"]
    log.warning("POST https://api.telegram.org/bot%s/getMe failed", token)
    log.info("secret %s, signature key %s, %s, %s", SECRETS["LINE_CHANNEL_SECRET"],
             SECRETS["TELEGRAM_WEBHOOK_SECRET"], SECRETS["CERCAP_MEDIA_SECRET"],
             {"Authorization": f"Bearer {SECRETS['LINE_CHANNEL_ACCESS_TOKEN']}"})
    log.info("quoted: %s", "line%2Faccess%2Btoken%3D%3D")
    log.info("a token nobody configured: /bot12345:ABCdef-ghi_jkl/sendMessage")
    log.info("only the secret half: %s", token.split(":")[1])
    try:
        raise RuntimeError(f"cannot reach https://api.telegram.org/bot{token}/getUpdates")
    except RuntimeError:
        log.exception("polling failed")
    log.info("%d%% safe, nothing to mask", 100)
    text = "\n".join(lines)
    for secret in SECRETS.values():
        assert secret not in text
    assert "line%2Faccess%2Btoken%3D%3D" not in text
    assert "12345:ABCdef" not in text and "/bot***/sendMessage" in text
    assert "SECRET-of-the-bot-token_xyz" not in text
    assert "https://api.telegram.org/bot***/getMe failed" in lines[0]
    assert "RuntimeError: cannot reach https://api.telegram.org/bot***/getUpdates" in text
    assert lines[-1] == "INFO 100% safe, nothing to mask"


def test_printed_error_lines_are_masked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "printed-secret-value")
    assert log_scrub.scrub("bad printed-secret-value here") == "bad *** here"


def test_one_shot_commands_need_no_running_bot_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    """`line setup-richmenu` needs only the LINE token (README, LINE step 4)."""
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", LINE_TOKEN)
    monkeypatch.delenv("LINE_CHANNEL_SECRET", raising=False)
    assert Settings.from_env(serving=False).line_access_token == LINE_TOKEN
    with pytest.raises(ConfigError, match="LINE_CHANNEL_SECRET is required"):
        Settings.from_env()
