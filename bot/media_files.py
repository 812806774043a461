"""Photos from people, written into the media folder under names we choose.

A platform's id (LINE's message id, Telegram's file_unique_id) becomes the file name only
when it is plainly safe; anything else (`../`, slashes, odd characters, very long) is
replaced by its hash, so nothing is ever written outside the folder. The write itself
runs in a worker thread: a 10 MB photo must not stall the event loop."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


def safe_name(platform_id: str) -> str:
    if SAFE_ID.fullmatch(platform_id):
        return platform_id
    return hashlib.sha256(platform_id.encode("utf-8", "surrogatepass")).hexdigest()


def _write(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)


async def save_photo(media_dir: Path, channel: str, platform_id: str, content: bytes) -> str:
    """Write a photo; returns its path relative to the media folder."""
    relative = Path(channel) / f"{safe_name(platform_id)}.jpg"
    await asyncio.to_thread(_write, media_dir / relative, content)
    return relative.as_posix()
