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
        )

    @property
    def has_channel_tokens(self) -> bool:
        return bool(self.telegram_token or os.environ.get("LINE_CHANNEL_ACCESS_TOKEN"))
