"""Delivers the outbox: one loop for all channels, woken the moment a handling
transaction commits, with retries and backoff. Sending never happens inside a
database transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from handlers.clock import Clock, SystemClock
from storage import outbox, people
from storage.db import Database
from storage.outbox import OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
MAX_BACKOFF_SECONDS = 300.0
IDLE_POLL_SECONDS = 5.0


@dataclass(frozen=True)
class Sent:
    pass


@dataclass(frozen=True)
class Retry:
    error: str
    after_seconds: float | None = None  # the platform's own retry_after, when it gave one


@dataclass(frozen=True)
class Failed:
    error: str


@dataclass(frozen=True)
class Blocked:
    """The person blocked the bot or left: stop sending to this chat."""

    error: str


SendOutcome = Sent | Retry | Failed | Blocked


class ChannelSender(Protocol):
    channel: str

    async def send(self, message: OutboxMessage) -> SendOutcome: ...


def backoff_seconds(attempts: int) -> float:
    return min(2.0 ** attempts, MAX_BACKOFF_SECONDS)


class OutboxSender:
    def __init__(self, db: Database, senders: list[ChannelSender],
                 clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.senders = {s.channel: s for s in senders}
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def deliver_due(self, channel: str | None = None, chat_id: str | None = None,
                          limit: int = 100) -> int:
        """Send what is due now; returns how many messages were sent."""
        sent = 0
        for name in [channel] if channel else list(self.senders):
            async with self.db.read() as conn:
                due = await outbox.due(conn, name, self.clock.now(), limit, chat_id)
            for message in due:
                outcome = await self._send(message)
                await self._record(message, outcome)
                sent += isinstance(outcome, Sent)
        return sent

    async def _send(self, message: OutboxMessage) -> SendOutcome:
        sender = self.senders[message.channel]
        try:
            return await sender.send(message)
        except Exception as exc:  # a sender bug must not stop delivery of the rest
            log.exception("sending outbox message %d failed", message.id)
            return Retry(f"{type(exc).__name__}: {exc}")

    async def _record(self, message: OutboxMessage, outcome: SendOutcome) -> None:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            match outcome:
                case Sent():
                    await outbox.mark_sent(conn, message.id, now)
                case Retry(error, after) if message.attempts + 1 < MAX_ATTEMPTS:
                    delay = after if after is not None else backoff_seconds(message.attempts)
                    await outbox.mark_retry(conn, message.id, now + timedelta(seconds=delay),
                                            error)
                case Retry(error, _) | Failed(error):
                    log.error("outbox message %d failed for good: %s", message.id, error)
                    await outbox.mark_failed(conn, message.id, error)
                case Blocked(error):
                    log.warning("chat %s/%s blocked the bot: %s", message.channel,
                                message.chat_id, error)
                    await outbox.mark_failed(conn, message.id, f"blocked: {error}")
                    await people.set_identity_active(conn, message.channel, message.chat_id,
                                                     False)

    async def run(self) -> None:
        """Deliver forever: at once when woken, otherwise when the next retry falls due."""
        while True:
            self._wake.clear()
            try:
                await self.deliver_due()
            except Exception:
                log.exception("outbox delivery round failed")
            async with self.db.read() as conn:
                next_due = await outbox.next_due_at(conn, list(self.senders))
            timeout = IDLE_POLL_SECONDS
            if next_due is not None:
                timeout = max(0.0, min(timeout, (next_due - self.clock.now()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
