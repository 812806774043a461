"""Signed, expiring links to files in the media folder, for platforms that fetch images
and files by URL (LINE): `GET /media/<path>?exp=…&sig=…` on the bot's web server."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

LINK_TTL_SECONDS = 7 * 24 * 3600


class MediaLinks:
    def __init__(self, public_url: str, secret: bytes, media_dir: Path,
                 clock: Callable[[], float] = time.time) -> None:
        self.public_url = public_url.rstrip("/")
        self.secret = secret
        self.media_dir = media_dir
        self.clock = clock

    def _signature(self, path: str, expires: int) -> str:
        return hmac.new(self.secret, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, path: str) -> str:
        expires = int(self.clock()) + LINK_TTL_SECONDS
        return (f"{self.public_url}/media/{quote(path)}?exp={expires}"
                f"&sig={self._signature(path, expires)}")

    def verify(self, path: str, expires: str, signature: str) -> bool:
        if not expires.isdigit() or int(expires) < self.clock():
            return False
        return hmac.compare_digest(self._signature(path, int(expires)), signature)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        if not self.verify(path, request.query.get("exp", ""), request.query.get("sig", "")):
            return web.Response(status=403)
        root = self.media_dir.resolve()
        target = (root / path).resolve()
        if root not in target.parents or not target.is_file():
            return web.Response(status=404)
        return web.FileResponse(target)
