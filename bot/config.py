"""Configuration, all from the environment (documented in the README).

A bad setting is a `ConfigError` whose message is one line of plain English for the
operator, naming the variable and what is wrong with it (never a secret's value);
`cercap-bot` prints it as `error: …` and exits with status 2."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from storage.db import db_path_from_env

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# What Telegram accepts as a webhook's secret_token.
WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
# The variables whose values are secrets: never logged, never printed (bot/log_scrub.py).
SECRET_VARIABLES = ("TELEGRAM_BOT_TOKEN", "LINE_CHANNEL_ACCESS_TOKEN", "LINE_CHANNEL_SECRET",
                    "TELEGRAM_WEBHOOK_SECRET", "CERCAP_MEDIA_SECRET", "CERCAP_METRICS_TOKEN")
LOG_FORMATS = ("text", "json")
BACKUP_TIME_RE = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


class ConfigError(ValueError):
    """A setting in the environment is missing, malformed or contradicts another."""


class StartupError(Exception):
    """The bot cannot start for a reason the operator must fix (a rejected token, a port
    in use, a database that cannot be written): one line of plain English."""


def _text(name: str) -> str | None:
    return (os.environ.get(name) or "").strip() or None


def _integer(name: str, default: int, low: int, high: int | None, what: str) -> int:
    raw = _text(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {what} (got {raw!r})") from None
    if value < low or (high is not None and value > high):
        raise ConfigError(f"{name} must be {what} (got {raw!r})")
    return value


def _seconds(name: str, default: float) -> float:
    raw = _text(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a number of seconds above 0, e.g. 10 (got {raw!r})")
    return value


def _url(name: str, example: str = "https://bot.example.org") -> str | None:
    raw = _text(name)
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http:// or https:// address, "
                          f"e.g. {example} (got {raw!r})")
    return raw


LINE_BASIC_ID_RE = re.compile(r"@?[A-Za-z0-9._-]{3,40}")


def _line_basic_id() -> str | None:
    """The LINE official account's basic (or premium) id, e.g. @123abcde, kept with its @."""
    raw = _text("LINE_BOT_BASIC_ID")
    if raw is None:
        return None
    if not LINE_BASIC_ID_RE.fullmatch(raw):
        raise ConfigError("LINE_BOT_BASIC_ID must be the LINE account's basic id, e.g. "
                          f"@123abcde (got {raw!r})")
    return "@" + raw.removeprefix("@")


def _check_quiet_hours() -> None:
    from handlers.schedule_time import QuietHours

    try:
        QuietHours.from_env()
    except ValueError:
        raw = os.environ.get("CERCAP_QUIET_HOURS", "")
        raise ConfigError("CERCAP_QUIET_HOURS must be two Bangkok times like 20:00-07:00, "
                          f"or off (got {raw!r})") from None


@dataclass(frozen=True)
class Settings:
    db_path: Path
    media_dir: Path
    telegram_token: str | None
    telegram_bot_username: str | None
    log_level: str
    telegram_api_base_url: str | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    media_max_bytes: int = 10_000_000
    line_access_token: str | None = None
    line_channel_secret: str | None = None
    line_api_host: str | None = None
    telegram_request_timeout: float = 10.0
    public_url: str | None = None
    media_secret: str | None = None
    outbox_retention_days: int = 30
    dedupe_window_days: int = 7
    # Personal data (README "Personal data"): days kept, applied by bot/housekeeping.py.
    retention_photo_days: int = 1095
    retention_identity_days: int = 180
    retention_audit_detail_days: int = 1825
    log_format: str = "text"
    metrics_token: str | None = None
    backup_dir: Path | None = None
    backup_keep_daily: int = 7
    backup_keep_weekly: int = 4
    backup_time: tuple[int, int] = (2, 30)  # Bangkok hour and minute of the daily backup
    line_basic_id: str | None = None  # LINE_BOT_BASIC_ID, with its @: the invite sheet's link

    @classmethod
    def from_env(cls, *, serving: bool = True) -> Settings:
        """The settings, checked: a bad one raises `ConfigError` (one line, no secret).
        `serving=False` (the one-shot commands) skips the checks that only matter to a
        running bot, e.g. a LINE token without its secret is enough to install the rich
        menu."""
        db_path = db_path_from_env()
        log_level = (_text("CERCAP_LOG_LEVEL") or "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"CERCAP_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)} "
                              f"(got {os.environ.get('CERCAP_LOG_LEVEL')!r})")
        webhook_url = _url("TELEGRAM_WEBHOOK_URL",
                           "https://bot.example.org/telegram/webhook")
        webhook_secret = os.environ.get("TELEGRAM_WEBHOOK_SECRET") or None
        if webhook_secret is not None and not WEBHOOK_SECRET_RE.fullmatch(webhook_secret):
            why = (f"it has {len(webhook_secret)}" if len(webhook_secret) > 256
                   else "it has other characters")
            raise ConfigError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of "
                              f"A-Z a-z 0-9 _ - ({why})")
        if serving and webhook_url and not webhook_secret:
            raise ConfigError("TELEGRAM_WEBHOOK_SECRET is required with TELEGRAM_WEBHOOK_URL "
                              "(1-256 characters of A-Z a-z 0-9 _ -)")
        line_token = os.environ.get("LINE_CHANNEL_ACCESS_TOKEN") or None
        line_secret = os.environ.get("LINE_CHANNEL_SECRET") or None
        if serving and line_token and not line_secret:
            raise ConfigError("LINE_CHANNEL_SECRET is required with LINE_CHANNEL_ACCESS_TOKEN")
        _check_quiet_hours()
        log_format = (_text("CERCAP_LOG_FORMAT") or "text").lower()
        if log_format not in LOG_FORMATS:
            raise ConfigError(f"CERCAP_LOG_FORMAT must be text or json (got {log_format!r})")
        backup_time = _text("CERCAP_BACKUP_TIME") or "02:30"
        time_match = BACKUP_TIME_RE.fullmatch(backup_time)
        if time_match is None:
            raise ConfigError("CERCAP_BACKUP_TIME must be a Bangkok time like 02:30 "
                              f"(got {backup_time!r})")
        backup_dir = _text("CERCAP_BACKUP_DIR")
        return cls(
            db_path=db_path,
            media_dir=Path(os.environ.get("CERCAP_MEDIA_DIR") or (
                db_path.parent if isinstance(db_path, Path) else Path("data")) / "media"),
            telegram_token=os.environ.get("TELEGRAM_BOT_TOKEN") or None,
            telegram_bot_username=(os.environ.get("TELEGRAM_BOT_USERNAME") or "").lstrip("@")
            or None,
            log_level=log_level,
            telegram_api_base_url=_url("TELEGRAM_API_BASE_URL", "http://127.0.0.1:8081"),
            telegram_webhook_url=webhook_url,
            telegram_webhook_secret=webhook_secret,
            http_host=os.environ.get("CERCAP_HTTP_HOST") or "0.0.0.0",
            http_port=_integer("CERCAP_HTTP_PORT", 8080, 1, 65535,
                               "a port number from 1 to 65535"),
            media_max_bytes=_integer("CERCAP_MEDIA_MAX_BYTES", 10_000_000, 1, None,
                                     "a whole number of bytes, e.g. 10000000"),
            line_access_token=line_token,
            line_channel_secret=line_secret,
            line_api_host=_url("LINE_API_HOST", "http://127.0.0.1:9000"),
            telegram_request_timeout=_seconds("TELEGRAM_REQUEST_TIMEOUT", 10.0),
            public_url=_url("CERCAP_PUBLIC_URL"),
            media_secret=os.environ.get("CERCAP_MEDIA_SECRET") or None,
            outbox_retention_days=_integer("CERCAP_OUTBOX_RETENTION_DAYS", 30, 1, None,
                                           "a whole number of days, at least 1"),
            dedupe_window_days=_integer("CERCAP_DEDUPE_WINDOW_DAYS", 7, 1, None,
                                        "a whole number of days, at least 1"),
            retention_photo_days=_integer("CERCAP_RETENTION_PHOTO_DAYS", 1095, 1, None,
                                          "a whole number of days, at least 1"),
            retention_identity_days=_integer("CERCAP_RETENTION_IDENTITY_DAYS", 180, 1, None,
                                             "a whole number of days, at least 1"),
            retention_audit_detail_days=_integer(
                "CERCAP_RETENTION_AUDIT_DETAIL_DAYS", 1825, 1, None,
                "a whole number of days, at least 1"),
            log_format=log_format,
            metrics_token=os.environ.get("CERCAP_METRICS_TOKEN") or None,
            backup_dir=Path(backup_dir) if backup_dir else None,
            backup_keep_daily=_integer("CERCAP_BACKUP_KEEP_DAILY", 7, 1, None,
                                       "a whole number of backups, at least 1"),
            backup_keep_weekly=_integer("CERCAP_BACKUP_KEEP_WEEKLY", 4, 0, None,
                                        "a whole number of backups, 0 or more"),
            backup_time=(int(time_match.group(1)), int(time_match.group(2))),
            line_basic_id=_line_basic_id(),
        )

    @property
    def has_channel_tokens(self) -> bool:
        return bool(self.telegram_token or self.line_access_token)
