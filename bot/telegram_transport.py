"""python-telegram-bot's HTTP requests carried by aiohttp.

PTB leaves the transport to a `telegram.request.BaseRequest` (its documented extension
point); the default one, httpx, takes several anyio lock round trips through the event
loop for every call, which was a third of the CPU a message cost this bot under load
(`bench/latency_telegram.py --profile`). aiohttp, already here for the web server and
the LINE SDK, parses HTTP in C. Everything above the transport (building the request,
reading the answer, turning errors into TelegramError) is still PTB's.
"""

from __future__ import annotations

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_DEFAULT = type(BaseRequest.DEFAULT_NONE)  # "not given": use this transport's own value


class AiohttpRequest(BaseRequest):
    def __init__(self, *, connection_pool_size: int = 8, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
                         write_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
                         connect_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
                         pool_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
                         ) -> tuple[int, bytes]:
        if self._session is None:
            raise RuntimeError("this AiohttpRequest is not initialized")
        read = self._given(read_timeout, self._read_timeout)
        write = self._given(write_timeout, self._write_timeout)
        connect = self._given(connect_timeout, self._connect_timeout)
        pool = self._given(pool_timeout, self._pool_timeout)
        # aiohttp counts the wait for a free connection in "connect", and has no write
        # timeout of its own: sending is bounded by the whole call's.
        timeout = aiohttp.ClientTimeout(
            total=None if None in (read, write, connect, pool)
            else read + write + connect + pool,  # type: ignore[operator]
            connect=None if connect is None or pool is None else connect + pool,
            sock_read=read)
        try:
            async with self._session.request(method, url, data=self._body(request_data),
                                             timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _given(value: object, default: float | None) -> float | None:
        return default if isinstance(value, _DEFAULT) else value  # type: ignore[return-value]

    @staticmethod
    def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
        """Form fields as PTB's own transport sends them: JSON-encoded values, urlencoded,
        or multipart when a file goes along."""
        if request_data is None:
            return None
        fields = request_data.json_parameters
        if not request_data.contains_files:
            return fields
        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        for name, (filename, content, mime_type) in request_data.multipart_data.items():
            form.add_field(name, content, filename=filename, content_type=mime_type)
        return form

