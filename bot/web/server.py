"""The one HTTP server of the process: the Telegram webhook, the LINE webhook (they
share a port) and `GET /healthz`."""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from bot.config import StartupError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Health:
    ok: bool
    problems: list[str] = field(default_factory=list)
    details: dict[str, object] = field(default_factory=dict)


async def _always_healthy() -> Health:
    return Health(ok=True)


class WebServer:
    def __init__(self, host: str, port: int,
                 health: Callable[[], Awaitable[Health]] = _always_healthy) -> None:
        self.host = host
        self.port = port
        self.health = health
        self.app = web.Application(client_max_size=1024 * 1024)
        self.app.router.add_get("/healthz", self._healthz)
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    def add_post(self, path: str, handler: Handler) -> None:
        self.app.router.add_post(path, handler)

    def add_get(self, path: str, handler: Handler) -> None:
        self.app.router.add_get(path, handler)

    async def _healthz(self, request: web.Request) -> web.Response:
        """200 when ready to serve; 503 while starting or when the database cannot be
        written. Either way with the backlogs: outbox (unsent) and inbox (unhandled)."""
        health = await self.health()
        body: dict[str, object] = {"status": "ok" if health.ok else "unavailable"}
        if health.problems:
            body["problems"] = health.problems
        return web.json_response(body | health.details, status=200 if health.ok else 503)

    async def start(self) -> None:
        """Raises `StartupError` (one line for the operator) when the address cannot be
        listened on: the port in use, a port below 1024 without the right, a bad host."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise StartupError(_listen_error(self.host, self.port, exc)) from None
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port
        log.info("web server listening on %s:%s", self.host, self.bound_port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _listen_error(host: str, port: int, exc: OSError) -> str:
    where = f"cannot listen on {host}:{port}"
    if isinstance(exc, socket.gaierror):
        return f"{where}: unknown host (CERCAP_HTTP_HOST)"
    reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: {reason}; is another program using it? (CERCAP_HTTP_PORT)"
    if exc.errno == errno.EACCES:
        return f"{where}: {reason}; ports below 1024 need privileges (CERCAP_HTTP_PORT)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{where}: {reason}; not an address of this machine (CERCAP_HTTP_HOST)"
    return f"{where}: {reason} (CERCAP_HTTP_HOST, CERCAP_HTTP_PORT)"
