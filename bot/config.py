"""Configuration, all from the environment (documented in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from storage.db import db_path_from_env


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

    @classmethod
    def from_env(cls) -> Settings:
        db_path = db_path_from_env()
        return cls(
            db_path=db_path,
            media_dir=Path(os.environ.get("CERCAP_MEDIA_DIR") or db_path.parent / "media"),
            telegram_token=os.environ.get("TELEGRAM_BOT_TOKEN") or None,
            telegram_bot_username=(os.environ.get("TELEGRAM_BOT_USERNAME") or "").lstrip("@")
            or None,
            log_level=os.environ.get("CERCAP_LOG_LEVEL", "INFO").upper(),
            telegram_api_base_url=os.environ.get("TELEGRAM_API_BASE_URL") or None,
            telegram_webhook_url=os.environ.get("TELEGRAM_WEBHOOK_URL") or None,
            telegram_webhook_secret=os.environ.get("TELEGRAM_WEBHOOK_SECRET") or None,
            http_host=os.environ.get("CERCAP_HTTP_HOST") or "0.0.0.0",
            http_port=int(os.environ.get("CERCAP_HTTP_PORT") or 8080),
            media_max_bytes=int(os.environ.get("CERCAP_MEDIA_MAX_BYTES") or 10_000_000),
            line_access_token=os.environ.get("LINE_CHANNEL_ACCESS_TOKEN") or None,
            line_channel_secret=os.environ.get("LINE_CHANNEL_SECRET") or None,
            line_api_host=os.environ.get("LINE_API_HOST") or None,
            telegram_request_timeout=float(os.environ.get("TELEGRAM_REQUEST_TIMEOUT") or 10.0),
            public_url=os.environ.get("CERCAP_PUBLIC_URL") or None,
            media_secret=os.environ.get("CERCAP_MEDIA_SECRET") or None,
        )

    @property
    def has_channel_tokens(self) -> bool:
        return bool(self.telegram_token or self.line_access_token)
