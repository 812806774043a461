"""How log lines are written: plain text (the default) or, with CERCAP_LOG_FORMAT=json, one
JSON object per line for log shippers (`time` in UTC ISO 8601, `level`, `logger`,
`message`, and `exception` when there is a traceback).

No personal text in any line: the libraries' own DEBUG records carry whole requests and
answers (python-telegram-bot logs every Bot API call with its parameters and every
update it receives, with names and message texts; httpx/httpcore and aiohttp log headers
and bodies). `PersonalDataFilter` keeps a third-party record below INFO to its format
string, its arguments replaced by `…`: what happened stays in the log, what was said
does not. The bot's own records never carry names or message texts (tests/test_log_format.py
runs real traffic at DEBUG and looks). Secrets are masked by bot/log_scrub.py."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

OWN_LOGGERS = ("cercap", "bot", "handlers", "storage", "locales", "__main__")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ELIDED = "…"
# python-telegram-bot's DEBUG records of a Bot API call: the method's name is kept.
BOT_API_CALL = ("Calling Bot API endpoint", "Call to Bot API endpoint")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def _own(name: str) -> bool:
    return any(name == own or name.startswith(own + ".") for own in OWN_LOGGERS)


def _safe(value: object) -> bool:
    """Numbers, and a URL without a query (the API's address: bot/log_scrub.py masks a
    token in it), say nothing about a person."""
    if isinstance(value, str):
        return (value.startswith(("http://", "https://")) and "?" not in value
                and not any(c.isspace() for c in value))
    return value is None or isinstance(value, int | float)


class PersonalDataFilter(logging.Filter):
    """Third-party records below INFO keep their format string, not their arguments
    (numbers and URLs are kept, and the Bot API method python-telegram-bot names first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO or _own(record.name):
            return True
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            msg = str(record.msg)
            kept = [a if _safe(a) or (i == 0 and msg.startswith(BOT_API_CALL)
                                      and isinstance(a, str) and a.isidentifier())
                    else ELIDED for i, a in enumerate(args)]
            try:
                record.msg = msg % tuple(kept)
            except (TypeError, ValueError):
                record.msg = f"{record.msg} {ELIDED}"
            record.args = None
        return True


_personal = PersonalDataFilter()


def configure(level: str, log_format: str = "text", stream: TextIO | None = None, *,
              force: bool = False) -> None:
    """One handler on the root logger, in the format chosen, with the personal-data filter
    (bot/log_scrub.py `install()` adds the secret filter to it afterwards). Like
    `logging.basicConfig`, handlers already there (a test runner's) are kept, unless
    `force`; they get the personal-data filter too."""
    root = logging.getLogger()
    if force:
        for old in list(root.handlers):
            root.removeHandler(old)
    if not root.handlers:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(JsonFormatter() if log_format == "json"
                             else logging.Formatter(TEXT_FORMAT))
        root.addHandler(handler)
    for handler in root.handlers:
        if _personal not in handler.filters:
            handler.addFilter(_personal)
    root.setLevel(level)
