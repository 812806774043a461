"""Signed, expiring links to files in the media folder, for platforms that fetch images
and files by URL (LINE): `GET /media/<path>?exp=…&sig=…` on the bot's web server.

The query is read strictly, as this module writes it: `exp` the expiry in Unix seconds,
ASCII digits without a sign, spaces or leading zeros (at most 12 of them); `sig` the
HMAC-SHA256 in 64 lowercase hex digits; each once. Anything else is refused with 403
before any arithmetic or comparison: `str.isdigit` takes "²", which `int` then refuses
(an error, a 500), `int` takes " 1", "1_0" and Thai digits and gives up on 5,000 digits,
and `hmac.compare_digest` raises on a non-ASCII signature."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

LINK_TTL_SECONDS = 7 * 24 * 3600
EXPIRES = re.compile(r"[1-9][0-9]{0,11}")  # ASCII only ([0-9], never \d); fullmatch
SIGNATURE = re.compile(r"[0-9a-f]{64}")


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
        if not EXPIRES.fullmatch(expires) or not SIGNATURE.fullmatch(signature):
            return False
        if int(expires) < self.clock():
            return False
        try:
            expected = self._signature(path, int(expires))
        except UnicodeEncodeError:  # a path no link was made for (a lone surrogate)
            return False
        return hmac.compare_digest(expected, signature)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        expires, signature = request.query.getall("exp", []), request.query.getall("sig", [])
        if len(expires) != 1 or len(signature) != 1 or not self.verify(path, expires[0],
                                                                        signature[0]):
            return web.Response(status=403)
        root = self.media_dir.resolve()
        try:
            target = (root / path).resolve()
            found = root in target.parents and target.is_file()
        except (OSError, ValueError):  # a NUL byte, a name too long for the file system
            found = False
        if not found:
            return web.Response(status=404)
        return web.FileResponse(target)
