"""Metrics for Prometheus (`GET /metrics`), fed by the parts that do the work.

The engine, the intake, the outbox sender, the reminder scheduler and the backup schedule
each call one hook here as things happen (`update_handled`, `update_given_up`,
`send_outcome`, `reminders_planned`, `backup_done` / `backup_failed`); a scrape only
formats what they counted. The backlogs are the one thing read from the database: a
cheap grouped count every `REFRESH_SECONDS` (`refresh_backlog`), never on a scrape.
LINE's pushes are read from the LINE sender's own counters.

Each `Metrics` has its own registry (not prometheus-client's global one), so several
services in one process (the tests) never share or collide. The README's "Monitoring"
section lists every metric."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.outbox_sender import MAX_ATTEMPTS, Blocked, Failed, Retry, SendOutcome, Sent
from handlers.clock import Clock, SystemClock
from storage import monitoring, outbox
from storage.db import Database
from storage.outbox import OutboxMessage

log = logging.getLogger(__name__)
# The `_created` series (when each counter was first used) only double the scrape.
disable_created_metrics()

REFRESH_SECONDS = 15.0
PRIORITY_NAMES = {outbox.LIVE_REPLY: "live_reply", outbox.NOTIFICATION: "notification",
                  outbox.BULK: "bulk"}
HANDLING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REMINDER_BATCH = "reminder:"


class LinePushes(Protocol):
    """What the LINE sender counts (bot/line_channel.py `LineSender`)."""

    pushes: int
    quota: tuple[int, int] | None


def failure_reason(outcome: SendOutcome) -> str:
    """A short, bounded label for why a message failed for good."""
    if isinstance(outcome, Blocked):
        return "blocked"
    if isinstance(outcome, Retry):
        return "retries_exhausted"
    error = outcome.error if isinstance(outcome, Failed) else ""
    words = error.replace(":", " ").split()
    status = next((w for w in words[:4] if w.isdigit() and len(w) == 3), None)
    return f"http_{status}" if status else "error"


class _LineCollector(Collector):
    def __init__(self) -> None:
        self.senders: list[LinePushes] = []

    def collect(self) -> Iterator[Metric]:
        if not self.senders:
            return
        pushes = CounterMetricFamily(
            "cercap_line_pushes", "LINE push calls LINE accepted since the bot started "
            "(replies with a reply token are free and not counted)")
        pushes.add_metric([], sum(s.pushes for s in self.senders))
        yield pushes
        quota = next((s.quota for s in self.senders if s.quota is not None), None)
        if quota is not None:
            used = GaugeMetricFamily("cercap_line_push_quota_used",
                                     "Messages of this month's LINE quota used, as LINE last "
                                     "reported it (at start and every 100 pushes)")
            used.add_metric([], quota[0])
            limit = GaugeMetricFamily("cercap_line_push_quota_limit",
                                      "This month's LINE message quota (a limited plan only)")
            limit.add_metric([], quota[1])
            yield used
            yield limit


class Metrics:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.updates = Counter(
            "cercap_updates_handled", "Incoming updates by channel and outcome (handled, "
            "duplicate, stale_button, older_waiting: an older update of the person goes first, "
            "error: the engine raised and the update is tried again, given_up: intake "
            "stopped trying)", ["channel", "outcome"], registry=r)
        self.handling = Histogram(
            "cercap_update_handling_seconds", "Time to handle one update (one transaction: "
            "the conversation, the domain rows, the replies queued)", ["channel"],
            buckets=HANDLING_BUCKETS, registry=r)
        self.sends = Counter(
            "cercap_outbox_sends", "Outbox messages by channel and result (sent, retried, "
            "failed)", ["channel", "result"], registry=r)
        self.send_failures = Counter(
            "cercap_outbox_failures", "Outbox messages that failed for good, by reason "
            "(blocked, retries_exhausted, http_<status>, error)", ["channel", "reason"],
            registry=r)
        self.backlog = Gauge(
            "cercap_outbox_backlog", "Messages waiting to be sent, by channel and priority",
            ["channel", "priority"], registry=r)
        self.oldest_unsent = Gauge(
            "cercap_outbox_oldest_unsent_seconds", "Age of the oldest message waiting to be "
            "sent (0 when none waits)", registry=r)
        self.inbox_backlog = Gauge(
            "cercap_inbox_backlog", "Stored updates not handled yet, by channel", ["channel"],
            registry=r)
        self.oldest_unhandled = Gauge(
            "cercap_inbox_oldest_unhandled_seconds", "Age of the oldest stored update not "
            "handled yet (0 when none waits)", registry=r)
        self.backlog_refreshed = Gauge(
            "cercap_backlog_refreshed_timestamp_seconds", "When the backlog gauges were last "
            "read from the database (Unix time)", registry=r)
        self.reminders_queued = Counter(
            "cercap_reminders_planned", "Reminder messages queued by the scheduler, by kind",
            ["kind"], registry=r)
        self.reminders_sent = Counter(
            "cercap_reminders_sent", "Reminder messages delivered, by kind", ["kind"],
            registry=r)
        self.backups = Counter("cercap_backups", "Scheduled backups written and verified",
                               registry=r)
        self.backup_failures = Counter(
            "cercap_backup_failures", "Scheduled backups that failed (written or verified)",
            registry=r)
        self.backup_last_success = Gauge(
            "cercap_backup_last_success_timestamp_seconds", "When the last scheduled backup "
            "was verified (Unix time; 0 before the first)", registry=r)
        self.backup_last_bytes = Gauge("cercap_backup_last_size_bytes",
                                       "Size of the last verified backup", registry=r)
        self.backup_last_seconds = Gauge("cercap_backup_last_duration_seconds",
                                         "How long the last verified backup took", registry=r)
        self._oldest: datetime | None = None
        self._oldest_stored: datetime | None = None
        self.oldest_unsent.set_function(lambda: self._age(self._oldest))
        self.oldest_unhandled.set_function(lambda: self._age(self._oldest_stored))
        self._line = _LineCollector()
        r.register(self._line)

    def _age(self, since: datetime | None) -> float:
        return max(0.0, (self.clock.now() - since).total_seconds()) if since else 0.0

    def attach(self, engine: Any, intake: Any, sender: Any, scheduler: Any) -> None:
        """Set the one hook each part calls (handlers/engine.py `on_handled`, bot/intake.py
        `on_given_up`, bot/outbox_sender.py `on_outcome`, bot/scheduler.py `on_planned`)."""
        engine.on_handled = self.update_handled
        intake.on_given_up = self.update_given_up
        intake.on_duplicate = self.update_duplicate
        sender.on_outcome = self.send_outcome
        scheduler.on_planned = self.reminders_planned

    # --- hooks ----------------------------------------------------------------------

    def update_handled(self, channel: str, outcome: str, seconds: float) -> None:
        self.updates.labels(channel, outcome).inc()
        if outcome != "error":
            self.handling.labels(channel).observe(seconds)

    def update_given_up(self, channel: str) -> None:
        self.updates.labels(channel, "given_up").inc()

    def update_duplicate(self, channel: str) -> None:
        """A redelivery of a stored update, dropped at the door (bot/intake.py)."""
        self.updates.labels(channel, "duplicate").inc()

    def send_outcome(self, batch: list[OutboxMessage], outcome: SendOutcome) -> None:
        for message in batch:
            channel = message.channel
            if isinstance(outcome, Sent):
                self.sends.labels(channel, "sent").inc()
                batch_name = getattr(message, "batch", None) or ""
                if batch_name.startswith(REMINDER_BATCH):
                    self.reminders_sent.labels(batch_name[len(REMINDER_BATCH):]).inc()
            elif isinstance(outcome, Retry) and message.attempts + 1 < MAX_ATTEMPTS:
                self.sends.labels(channel, "retried").inc()
            else:
                self.sends.labels(channel, "failed").inc()
                self.send_failures.labels(channel, failure_reason(outcome)).inc()

    def reminders_planned(self, queued: dict[str, int]) -> None:
        for kind, count in queued.items():
            self.reminders_queued.labels(kind).inc(count)

    def backup_done(self, finished: datetime, size: int, seconds: float) -> None:
        self.backups.inc()
        self.backup_last_success.set(finished.timestamp())
        self.backup_last_bytes.set(size)
        self.backup_last_seconds.set(seconds)

    def backup_failed(self) -> None:
        self.backup_failures.inc()

    def watch_line(self, sender: LinePushes) -> None:
        self._line.senders.append(sender)

    # --- the backlogs -----------------------------------------------------------------

    def set_backlog(self, waiting: Iterable[monitoring.Backlog],
                    stored: Iterable[monitoring.Backlog]) -> None:
        waiting, stored = list(waiting), list(stored)
        self.backlog.clear()
        for b in waiting:
            self.backlog.labels(b.channel, PRIORITY_NAMES.get(b.priority, str(b.priority))
                                ).set(b.waiting)
        self._oldest = min((b.oldest for b in waiting), default=None)
        self.inbox_backlog.clear()
        for b in stored:
            self.inbox_backlog.labels(b.channel).set(b.waiting)
        self._oldest_stored = min((b.oldest for b in stored), default=None)
        self.backlog_refreshed.set(self.clock.now().timestamp())

    async def refresh_backlog(self, db: Database) -> None:
        async with db.read() as conn:
            waiting = await monitoring.outbox_backlog(conn)
            stored = await monitoring.inbox_backlog(conn)
        self.set_backlog(waiting, stored)

    async def run(self, db: Database, every: float = REFRESH_SECONDS) -> None:
        """Refresh the backlog gauges forever."""
        while True:
            try:
                await self.refresh_backlog(db)
            except Exception:
                log.exception("metrics: reading the backlogs failed")
            await asyncio.sleep(every)

    # --- the endpoint -----------------------------------------------------------------

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def handler(self, token: str | None) -> Any:
        """`GET /metrics`; with a token, only for `Authorization: Bearer <token>`."""
        expected = f"Bearer {token}".encode() if token else None

        async def metrics(request: web.Request) -> web.Response:
            if expected is not None:
                given = request.headers.get("Authorization", "").encode()
                if not hmac.compare_digest(given, expected):
                    return web.Response(status=401, text="401: a bearer token is required\n",
                                        headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
            response = web.Response(body=self.exposition())
            response.headers["Content-Type"] = CONTENT_TYPE_LATEST
            return response

        return metrics
