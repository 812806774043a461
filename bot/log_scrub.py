"""No secret in any log line.

python-telegram-bot, aiohttp and httpx put the Bot API URL, `…/bot<token>/method`, into
their log records and exception texts. `install()` puts a filter on the root logger's
handlers that replaces, in every record's message, arguments, exception text and stack,
each configured secret (the values of `bot.config.SECRET_VARIABLES`) and anything shaped
like a Telegram token in a URL (`/bot<digits>:<chars>`) with `***`. A handler's filter
sees the records of every logger that propagates to it, so one place covers all.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from bot.config import SECRET_VARIABLES

MASK = "***"
TOKEN_IN_URL = re.compile(r"/bot\d+:[A-Za-z0-9_-]+")
# The part of a Telegram token after the colon is the secret; shorter pieces would mask
# ordinary words.
_MIN_PART = 8


def secrets_from_env() -> list[str]:
    return [value for name in SECRET_VARIABLES if (value := os.environ.get(name))]


def _variants(secrets: Iterable[str | None]) -> list[str]:
    found: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        pieces = [secret]
        _, colon, after = secret.partition(":")
        if colon and len(after) >= _MIN_PART:
            pieces.append(after)
        for piece in pieces:
            found.update({piece, quote(piece, safe=""), quote_plus(piece)})
    # Longest first, so a secret that contains another is masked whole.
    return sorted(found, key=len, reverse=True)


class SecretFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str | None]) -> None:
        self._secrets = _variants(secrets)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return TOKEN_IN_URL.sub("/bot" + MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw parts, scrubbed
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


_filter = SecretFilter()


def install(secrets: Iterable[str | None] | None = None,
            logger: logging.Logger | None = None) -> SecretFilter:
    """Filter every handler of `logger` (the root logger) for `secrets` (default: those
    in the environment). Calling it again updates the secrets; a handler is filtered once."""
    _filter.set_secrets(secrets_from_env() if secrets is None else secrets)
    for handler in (logger or logging.getLogger()).handlers:
        if _filter not in handler.filters:
            handler.addFilter(_filter)
    return _filter


def scrub(text: str) -> str:
    """`text` with the secrets masked, those installed and those in the environment (for
    lines printed outside logging, also before `install`)."""
    return _filter.scrub(SecretFilter(secrets_from_env()).scrub(text))
