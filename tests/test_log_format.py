"""Log lines: CERCAP_LOG_FORMAT=json writes one JSON object per line, and no line, at any
level, carries a secret, a person's name or what they wrote — checked on real traffic
(Telegram through the test server, LINE, the console) with every log record captured at
DEBUG."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import log_format, log_scrub
from bot.cli import main
from bot.service import Service
from handlers.messages import Incoming
from handlers.permissions import Role
from tests.conftest import LINE_SECRET, LINE_TOKEN, TELEGRAM_TOKEN, Harness, line_settings
from tests.servers.line_api import LineTestServer
from tests.servers.telegram_api import TelegramTestServer
from tests.test_durable_intake import VILLAGE_2, issue_code, tg_settings, url

pytestmark = pytest.mark.sqlite_only  # logging does not depend on the engine

NAME = "สมปอง ลับเฉพาะตัว"
TEXT = "น้ำท่วมบ้านนายแดงหลังวัดกิโลเจ็ด 4471"
WEBHOOK_SECRET = "s3cret-webhook"
TG_USER = 7_123_001
LINE_USER = "U" + "7" * 32


@pytest.fixture
def captured(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """Every log record of the process, as `cercap-bot` would write it with
    CERCAP_LOG_LEVEL=DEBUG (the format from the test's parameter, default json)."""
    fmt = getattr(request, "param", "json")
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    log_format.configure("DEBUG", fmt, buffer, force=True)
    log_scrub.install([TELEGRAM_TOKEN, WEBHOOK_SECRET, LINE_TOKEN, LINE_SECRET])
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        log_scrub.install()


def assert_clean(output: str) -> None:
    forbidden = {"the bot token": TELEGRAM_TOKEN, "the token's secret part":
                 TELEGRAM_TOKEN.split(":", 1)[1], "the webhook secret": WEBHOOK_SECRET,
                 "the LINE token": LINE_TOKEN, "the LINE secret": LINE_SECRET,
                 "the person's name": NAME, "the family name": NAME.split()[1],
                 "the message text": TEXT, "a piece of the text": "กิโลเจ็ด"}
    for what, value in forbidden.items():
        line = next((x for x in output.splitlines() if value in x), None)
        assert line is None, f"{what} is in a log line: {line}"


def json_lines(output: str) -> list[dict[str, object]]:
    entries = [json.loads(line) for line in output.splitlines()]
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry)
    return entries


async def test_telegram_traffic_at_debug_logs_no_token_name_or_text(
        captured: io.StringIO, seeded_db_path: Path, tg: TelegramTestServer,
        tmp_path: Path) -> None:
    code = await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2)
    settings = tg_settings(seeded_db_path, tg, tmp_path / "media", webhook=True)
    async with Service(settings):
        for text in (f"/start {code}", NAME, TEXT):
            before = len(tg.sent_messages(TG_USER))
            assert await tg.deliver_to_webhook(tg.text_update(
                TG_USER, text, first_name=NAME)) == 200
            await tg.wait_for(lambda _c, b=before: len(tg.sent_messages(TG_USER)) > b)
    sent = "\n".join(m.get("text") or "" for m in tg.sent_messages(TG_USER))
    assert NAME in sent  # the bot did read the name and text (it greets by name) ...
    output = captured.getvalue()
    entries = json_lines(output)
    # ... and DEBUG really was on, for the libraries too: their calls are in the log.
    assert any(e["logger"].startswith("telegram") and e["level"] == "DEBUG"  # type: ignore[union-attr]
               for e in entries)
    assert any("sendMessage" in str(e["message"]) for e in entries)
    assert_clean(output)


async def test_line_traffic_at_debug_logs_no_token_name_or_text(
        captured: io.StringIO, seeded_db_path: Path, line: LineTestServer,
        tmp_path: Path) -> None:
    code = await issue_code(seeded_db_path, Role.VILLAGE_COMMITTEE, VILLAGE_2)
    async with Service(line_settings(seeded_db_path, line, tmp_path / "media")) as service:
        for text in (code, NAME, TEXT):
            before = len(line.delivered_messages(LINE_USER))
            assert await line.post_webhook(url(service, "/line/callback"),
                                           [line.text_event(LINE_USER, text)]) == 200
            await line.wait_for(lambda b=before: len(line.delivered_messages(LINE_USER)) > b,
                                what="a reply")
    output = captured.getvalue()
    assert any(e["level"] == "DEBUG" for e in json_lines(output))
    assert_clean(output)


@pytest.mark.parametrize("captured", ["text"], indirect=True)
async def test_console_traffic_at_debug_logs_no_name_or_text(
        captured: io.StringIO, console: Harness) -> None:
    await console.start("1")
    reply = await console.type(TEXT)
    assert reply  # the report began
    await console.type("ใช่")
    await console.type("12")
    again = Incoming(channel="console", user_id="demo-village", chat_id="demo-village",
                     update_id="log-check", text=f"{TEXT} {NAME}")
    await console.engine.handle(again)
    assert (await console.engine.handle(again)).duplicate  # logged, at INFO
    output = captured.getvalue()
    assert "duplicate update console/log-check ignored" in output
    assert_clean(output)


async def test_json_lines_carry_the_exception_and_mask_secrets(
        captured: io.StringIO) -> None:
    log = logging.getLogger("bot.test")
    try:
        raise RuntimeError(f"calling https://api.telegram.org/bot{TELEGRAM_TOKEN}/getMe")
    except RuntimeError:
        log.exception("it failed for %s", "บุญมี")
    entries = json_lines(captured.getvalue())
    assert entries[-1]["level"] == "ERROR" and entries[-1]["logger"] == "bot.test"
    assert entries[-1]["message"] == "it failed for บุญมี"  # Thai kept as it is (no \\u)
    assert "RuntimeError" in str(entries[-1]["exception"])
    assert TELEGRAM_TOKEN not in captured.getvalue()


async def test_a_library_debug_record_keeps_its_words_not_its_arguments(
        captured: io.StringIO) -> None:
    logging.getLogger("telegram.ext.ExtBot").debug(
        "Calling Bot API endpoint `%s` with parameters `%s`", "sendMessage", {"text": TEXT})
    logging.getLogger("handlers.test").debug("own record: %s", "kept")
    entries = json_lines(captured.getvalue())
    assert entries[-2]["message"] == ("Calling Bot API endpoint `sendMessage` with parameters"
                                      " `…`")
    assert entries[-1]["message"] == "own record: kept"


def test_cercap_log_format_json_makes_the_cli_write_json(
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        seeded_db_path: Path, tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    for handler in saved[0]:
        root.removeHandler(handler)  # as in a real process: no handler before main()
    monkeypatch.setenv("CERCAP_DB", str(seeded_db_path))
    monkeypatch.setenv("CERCAP_LOG_FORMAT", "json")
    monkeypatch.setenv("CERCAP_LOG_LEVEL", "DEBUG")
    try:
        assert main(["backup", str(tmp_path / "b.db")]) == 0
        logging.getLogger("bot.cli").info("a line after the command")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    err = capfd.readouterr().err
    entries = json_lines(err.strip())
    assert entries and entries[-1]["message"] == "a line after the command"


def test_a_bad_log_format_is_an_operator_error(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CERCAP_LOG_FORMAT", "xml")
    assert main(["status"]) == 2
    assert "CERCAP_LOG_FORMAT must be text or json" in capsys.readouterr().err
