"""Delivers the outbox: one loop for all channels, woken the moment a handling
transaction commits, with retries and backoff. Sending never happens inside a
database transaction.

What is tried again: a channel sender says so itself (`Retry` for a 429, a 5xx, a
timeout); an exception that escapes a sender or `prepare` is tried again only when it is
one that can pass (`is_transient`: timeouts, network and connection errors, an HTTP 429 or
5xx, a locked database). Anything else (a rendering bug, a payload the code cannot turn
into a message) gives the same error every time: the row fails at once, with the reason
in `last_error`, instead of being tried MAX_ATTEMPTS times over several minutes.

Several instances on one PostgreSQL (`share`): every instance runs this sender on the
shared outbox. Rows are claimed before they are sent (storage.outbox.SharedOutbox: the
locking story), a chat's at a time, so each chat is served by one sender at a time, in
order; the replies an engine hands over in memory were leased to this sender by their
INSERT (`reply_lease`) and go without a claim; other rows are claimed (the claims of one
turn of the loop in one statement). Each outcome is recorded as soon as its response
arrives, in one short autocommit statement with the others that arrived in the same turn
of the loop (a send never waits for another chat's response): a sender killed mid-send
leaves at most its sends in flight (CHATS_IN_FLIGHT, one per chat) in doubt, and those are
sent again by whichever sender claims them next (Telegram has no idempotency key: a lost
answer is worse than a doubled one). What the pace holds back waits in place while the
lease lasts (PACE_HOLD_SECONDS), otherwise it is given back. The overall pace is shared by
the live senders (bot/pacing.py, counted every COUNT_SECONDS). SQLite (one process): none
of this; rows are read and recorded as before."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import aiohttp

from bot.pacing import Pacer
from handlers.clock import Clock, SystemClock
from storage import outbox, people
from storage.connection import Connection
from storage.db import Database
from storage.outbox import Chat, Claimed, OutboxMessage, SharedOutbox

if TYPE_CHECKING:
    from storage.claims import PgClaims

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
MAX_BACKOFF_SECONDS = 300.0
IDLE_POLL_SECONDS = 5.0
CHATS_IN_FLIGHT = 16  # chats served at once; one chat's messages always go one by one
# A chat's rows are read a page at a time: a chat with a paced backlog (the core team
# notified of 200 reports) usually sends one before its pace holds it back.
CHAT_PAGE = 10
STOP_GRACE_SECONDS = 5.0
# The shared outbox (several instances):
LEASE_MARGIN_SECONDS = 12.0  # no send starts this close to its lease's end (a 10 s timeout)
PACE_HOLD_SECONDS = 5.0  # a claimed row paced for longer is given back, not held
COUNT_SECONDS = 1.0  # how often the live senders are counted (the overall pace's share)
CONTENDED_RETRY_SECONDS = (0.02, 0.1)  # a chat another claim held part of: again, soon


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


class BatchingSender(ChannelSender, Protocol):
    """A channel that can send several outbox rows in one platform call (LINE answers
    up to five messages with one reply token)."""

    max_batch: int

    def batch_key(self, message: OutboxMessage) -> str | None: ...

    def batch_size(self, message: OutboxMessage) -> int: ...

    async def send_many(self, batch: list[OutboxMessage]) -> SendOutcome: ...


class PacedSender(ChannelSender, Protocol):
    pacer: Pacer

    def is_group_chat(self, chat_id: str) -> bool: ...


def _batches(sender: ChannelSender, messages: list[OutboxMessage]) -> list[list[OutboxMessage]]:
    """Consecutive rows a batching sender can send in one call; one row each otherwise."""
    if not hasattr(sender, "send_many"):
        return [[m] for m in messages]
    batching: BatchingSender = sender  # type: ignore[assignment]
    batches: list[list[OutboxMessage]] = []
    size = 0
    for message in messages:
        key = batching.batch_key(message)
        n = batching.batch_size(message)
        last = batches[-1] if batches else None
        if (last and key is not None and batching.batch_key(last[0]) == key
                and size + n <= batching.max_batch):
            last.append(message)
            size += n
        else:
            batches.append([message])
            size = n
    return batches


# OSErrors that name a file, not a connection: the same path fails the same way next time.
FILE_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same send again later can succeed."""
    if isinstance(exc, FILE_ERRORS):
        return False
    if isinstance(exc, TimeoutError | OSError | aiohttp.ClientError):
        # timeouts (asyncio's too: the same class since 3.11), refused or reset
        # connections, DNS, TLS, and aiohttp's own errors
        return True
    status = getattr(exc, "status", None)  # an HTTP error a client raised (LINE's SDK)
    if isinstance(status, int) and (status == 429 or 500 <= status <= 599):
        return True
    message = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in message
                                                           or "busy" in message)


def backoff_seconds(attempts: int) -> float:
    return min(2.0 ** attempts, MAX_BACKOFF_SECONDS)


class OutboxSender:
    def __init__(self, db: Database, senders: list[ChannelSender],
                 clock: Clock | None = None,
                 prepare: Callable[[OutboxMessage], Awaitable[OutboxMessage]] | None = None
                 ) -> None:
        """`prepare` turns a queued request for content (a summary, a chart, an export)
        into the message to send, just before sending."""
        self.db = db
        self.prepare = prepare
        self.clock = clock or SystemClock()
        self.senders = {s.channel: s for s in senders}
        self._wake = asyncio.Event()
        self._round = asyncio.Lock()
        self._in_flight = asyncio.Semaphore(CHATS_IN_FLIGHT)
        self._busy: set[Chat] = set()  # chats being delivered now, by one task each
        self._again: set[Chat] = set()  # busy chats that got more messages meanwhile
        self._tasks: set[asyncio.Task[int]] = set()
        # Send outcomes waiting to be recorded, and the task recording them.
        self._outcomes: list[tuple[list[OutboxMessage], SendOutcome, asyncio.Future[None]]] = []
        self._recording: asyncio.Task[None] | None = None
        self._running = False
        self._paced_until: float | None = None  # seconds until a paced message may go
        self._more_due = False  # a round stopped at its limit: go again at once
        # Told of each outcome once it is recorded; bot/metrics.py counts.
        self.on_outcome: Callable[[list[OutboxMessage], SendOutcome], None] | None = None
        # The shared outbox (several instances on PostgreSQL; `share`), None on SQLite.
        self.shared: SharedOutbox | None = None
        self.claims: PgClaims | None = None
        self.tell_others: Callable[[], None] | None = None  # rows queued: a NOTIFY hint
        self._leases: dict[int, tuple[float, int]] = {}  # row id: (send before, generation)
        self._to_claim: dict[str, dict[str, asyncio.Future[list[OutboxMessage]]]] = {}
        self._claiming: asyncio.Task[None] | None = None
        # Shared: rows sent, waiting to be recorded together, and the task recording them.
        self._sent: list[tuple[list[int], asyncio.Future[None]]] = []
        self._recording_sent: asyncio.Task[None] | None = None
        # A rolling upgrade: the leader is an older version, which sends the whole outbox
        # without claims. This sender then sends nothing (and hints it instead).
        self.paused = False
        self._senders_seen = 0

    def share(self, shared: SharedOutbox, claims: PgClaims,
              tell_others: Callable[[], None] | None = None) -> None:
        """Send the outbox shared with other instances (see the module's docstring)."""
        self.shared, self.claims, self.tell_others = shared, claims, tell_others

    def add_sender(self, sender: ChannelSender) -> None:
        self.senders[sender.channel] = sender

    def wake(self, chats: Iterable[Chat] | None = None,
             ready: Mapping[Chat, list[OutboxMessage]] | None = None) -> None:
        """Messages were queued. For the chats named, delivery starts at once (a live
        reply does not wait for a round); otherwise the next round finds them. `ready`
        holds, for some of the chats, every message they have waiting: those are sent as
        they are, without reading them back."""
        if self.paused and self.tell_others is not None:
            self.tell_others()  # the older leader LISTENs: it sends
            return
        if chats is None or not self._running:
            self._wake.set()
            if chats is None and self.tell_others is not None:
                self.tell_others()  # reminders, announcements: every sender helps
            return
        for chat in chats:
            if chat[0] not in self.senders:
                self._wake.set()
            elif chat in self._busy:
                self._again.add(chat)
            else:
                self._start(chat, self._handed_over(ready.get(chat) if ready else None))

    def reply_lease(self, channel: str) -> outbox.Lease | None:
        """Shared: the lease a reply's INSERT writes for this sender, so that the rows
        handed over after the COMMIT are sent without a claim (storage.outbox.SharedOutbox);
        None when rows are claimed before they are sent (or there is no shared outbox)."""
        if self.shared is None or self.claims is None or self.paused or not self._running \
                or channel not in self.senders or not self.claims.sender_key:
            return None
        return outbox.Lease(self.claims.sender_key, outbox.LEASE_SECONDS,
                            time.monotonic() + outbox.LEASE_SECONDS - LEASE_MARGIN_SECONDS,
                            self.claims.generation)

    def _handed_over(self, rows: list[OutboxMessage] | None) -> list[OutboxMessage] | None:
        """The rows to send as handed over, or None to read (claim) them: shared, only the
        ones leased to us by their INSERT, under the claim connection we have now."""
        if rows is None or self.shared is None:
            return rows
        assert self.claims is not None
        if not all(m.lease is not None and m.lease.generation == self.claims.generation
                   for m in rows):
            return None
        for m in rows:
            assert m.lease is not None
            self._leases[m.id] = (m.lease.send_before, m.lease.generation)
        return rows

    def wake_from_elsewhere(self) -> None:
        """Another instance queued rows (its NOTIFY): a round, and no hint back."""
        self._wake.set()

    def _start(self, chat: Chat, due: list[OutboxMessage] | None) -> asyncio.Task[int]:
        self._busy.add(chat)
        task = asyncio.create_task(self._deliver_chat(chat, due))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def deliver_due(self, channel: str | None = None, chat_id: str | None = None,
                          limit: int = 200) -> int:
        """Send what is due now; returns how many messages were sent. Chats are served
        concurrently, each chat's messages in order; a chat already being served gets
        its new messages from the task serving it."""
        sent = 0
        if self.paused:
            return 0
        async with self._round:
            self._paced_until = None
            self._more_due = False
            for name in [channel] if channel else list(self.senders):
                # While the channel's rate is used up, only live replies can go: reading
                # the paced backlog (a reminder to every village) would be wasted work.
                pacer = getattr(self.senders[name], "pacer", None)
                held = pacer.overall_wait() if pacer is not None else 0.0
                if held > 0:
                    self._paced_for(held)
                most = outbox.LIVE_REPLY if held > 0 else outbox.BULK
                by_chat: dict[Chat, list[OutboxMessage]] = {}
                if self.shared is not None:
                    claimed = await self._claim(name, CHATS_IN_FLIGHT,
                                                [chat_id] if chat_id else None, most)
                    by_chat = {(name, c): rows for c, rows in claimed.rows.items()}
                    full = len(by_chat) == CHATS_IN_FLIGHT
                else:
                    async with self.db.read() as conn:
                        due = await outbox.due(conn, name, self.clock.now(), limit, chat_id,
                                               most)
                    for message in due:
                        by_chat.setdefault((name, message.chat_id), []).append(message)
                    if len(due) == limit and len(by_chat) > 1:
                        # The last chat's rows may be cut at the limit (a reply and the menu
                        # share one LINE reply token): it goes whole in the next round.
                        by_chat.pop((name, due[-1].chat_id))
                    full = len(due) == limit
                started = []
                for chat, messages in by_chat.items():
                    if chat in self._busy:
                        self._again.add(chat)
                    else:
                        started.append(self._start(chat, messages))
                # Shared: chats of ours already being served are claimed again (ours):
                # only new ones mean more may wait.
                self._more_due = self._more_due or (full and (
                    self.shared is None or len(started) == len(by_chat)))
                sent += sum(await asyncio.gather(*started))
        return sent

    async def _deliver_chat(self, chat: Chat, due: list[OutboxMessage] | None) -> int:
        """Send one chat's due messages in order, then again while more arrived."""
        channel, chat_id = chat
        sender = self.senders[channel]
        sent, more = 0, False
        try:
            async with self._in_flight:
                while True:
                    self._again.discard(chat)
                    if due is None:
                        if self.shared is not None:
                            due = await self._claim_chat(chat)
                        else:
                            async with self.db.read() as conn:
                                due = await outbox.due(conn, channel, self.clock.now(),
                                                       CHAT_PAGE, chat_id)
                        more = len(due) == CHAT_PAGE
                    count, finished, rest = await self._send_in_order(sender, due)
                    sent += count
                    if self.shared is not None and rest:
                        await self._release(rest)
                    if not finished or not (more or chat in self._again):
                        return sent
                    due = None
        except Exception:  # the rows stay pending: the next round tries again
            log.exception("delivering to %s/%s failed", channel, chat_id)
            self._wake.set()
            return sent
        finally:
            self._busy.discard(chat)

    async def _send_in_order(self, sender: ChannelSender, messages: list[OutboxMessage]
                             ) -> tuple[int, bool, list[OutboxMessage]]:
        """(how many were sent, whether all of them were, those not tried: shared, they
        are still leased to this sender)."""
        sent = 0
        batches = _batches(sender, messages)

        def rest(i: int) -> list[OutboxMessage]:
            return [m for b in batches[i:] for m in b]

        for i, batch in enumerate(batches):
            wait = self._pacing_wait(sender, batch[0])
            while wait > 0 and self.shared is not None and wait <= PACE_HOLD_SECONDS:
                await asyncio.sleep(wait)  # held in place: the chat stays ours meanwhile
                wait = self._pacing_wait(sender, batch[0])
            if wait > 0:
                self._paced_for(wait)
                if not self._round.locked():
                    # Started by a commit, not a round: the loop must learn when to come
                    # back. (Within a round it does anyway; waking it then would spin.)
                    self._wake.set()
                return sent, False, rest(i)
            if self.shared is not None and not self._leased(batch):
                # The lease is about to end or is gone (the claim connection broke):
                # another sender may take these rows; none is started here.
                for message in rest(i):
                    self._leases.pop(message.id, None)
                self._wake.set()
                return sent, False, []
            outcome = await self._send(batch)
            await self._record(batch, outcome)
            if self.on_outcome is not None:
                self.on_outcome(batch, outcome)
            if isinstance(outcome, Failed):
                continue  # never to be sent: the chat's later messages need not wait for it
            if not isinstance(outcome, Sent):
                return sent, False, rest(i + 1)  # later ones wait, to keep the order
            sent += len(batch)
        return sent, True, []

    def _paced_for(self, seconds: float) -> None:
        """Something must wait this long for its pace: the loop comes back by then."""
        self._paced_until = min(self._paced_until or seconds, seconds)

    @staticmethod
    def _pacing_wait(sender: ChannelSender, message: OutboxMessage) -> float:
        pacer = getattr(sender, "pacer", None)
        if pacer is None:
            return 0.0
        paced: PacedSender = sender  # type: ignore[assignment]
        return pacer.wait_for(message.chat_id, is_group=paced.is_group_chat(message.chat_id),
                              live=message.priority == outbox.LIVE_REPLY)

    async def _send(self, batch: list[OutboxMessage]) -> SendOutcome:
        sender = self.senders[batch[0].channel]
        try:
            if self.prepare is not None:
                batch = [await self.prepare(message) for message in batch]
            if len(batch) > 1:
                batching: BatchingSender = sender  # type: ignore[assignment]
                return await batching.send_many(batch)
            return await sender.send(batch[0])
        except Exception as exc:  # a sender bug must not stop delivery of the rest
            reason = f"{type(exc).__name__}: {exc}"
            if is_transient(exc):
                log.warning("sending outbox message %d failed, tried again later: %s",
                            batch[0].id, reason)
                return Retry(reason)
            log.exception("outbox message %d cannot be sent (not tried again)", batch[0].id)
            return Failed(reason)

    async def _record(self, batch: list[OutboxMessage], outcome: SendOutcome) -> None:
        """Record what became of a send; returns once it is committed. Sends that finish
        together (16 chats in flight) are recorded in one transaction: a group commit.
        Shared: at once, on its own (see the module's docstring)."""
        if self.shared is not None:
            await self._record_shared(batch, outcome)
            return
        recorded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outcomes.append((batch, outcome, recorded))
        if self._recording is None or self._recording.done():
            self._recording = asyncio.create_task(self._record_outcomes())
        await recorded

    async def _record_outcomes(self) -> None:
        while self._outcomes:
            waiting, self._outcomes = self._outcomes, []
            now = self.clock.now()
            try:
                async with self.db.transaction() as conn:
                    for batch, outcome, _ in waiting:
                        for message in batch:
                            await self._record_one(conn, message, outcome, now)
            except Exception as exc:
                for _, _, recorded in waiting:
                    if not recorded.done():
                        recorded.set_exception(exc)
                continue
            for _, _, recorded in waiting:
                if not recorded.done():
                    recorded.set_result(None)

    @staticmethod
    async def _record_one(conn: Connection, message: OutboxMessage, outcome: SendOutcome,
                          now: datetime) -> None:
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

    # ---- the shared outbox ------------------------------------------------------------

    async def _claim(self, channel: str, chats: int, chat_ids: list[str] | None,
                     most_priority: int) -> Claimed:
        """Lease what is due (storage.outbox.SharedOutbox.claim) and note each row's lease
        by this process's clock, counted from before the claim went out."""
        assert self.shared is not None and self.claims is not None
        generation = self.claims.generation
        send_before = time.monotonic() + outbox.LEASE_SECONDS - LEASE_MARGIN_SECONDS
        claimed = await self.shared.claim(channel, self.clock.now(), chats=chats,
                                          page=CHAT_PAGE, chat_ids=chat_ids,
                                          most_priority=most_priority)
        for rows in claimed.rows.values():
            for message in rows:
                self._leases[message.id] = (send_before, generation)
        sender = self.senders.get(channel)
        pacer: Pacer | None = getattr(sender, "pacer", None)
        if pacer is not None:
            paced: PacedSender = sender  # type: ignore[assignment]
            for chat_id, ago in claimed.last_sent_ago.items():
                pacer.sent_ago(chat_id, ago, is_group=paced.is_group_chat(chat_id))
        if claimed.contended:
            asyncio.get_running_loop().call_later(random.uniform(*CONTENDED_RETRY_SECONDS),
                                                  self._wake.set)
        return claimed

    async def _claim_chat(self, chat: Chat) -> list[OutboxMessage]:
        """One chat's due rows, claimed together with the other chats asking in the same
        turn of the loop (and those asking while a claim is under way): one statement."""
        future: asyncio.Future[list[OutboxMessage]] = \
            asyncio.get_running_loop().create_future()
        self._to_claim.setdefault(chat[0], {})[chat[1]] = future
        if self._claiming is None or self._claiming.done():
            self._claiming = asyncio.create_task(self._claim_waiting())
        return await future

    async def _claim_waiting(self) -> None:
        await asyncio.sleep(0)  # the other chats handed over in this turn join
        while self._to_claim:
            waiting, self._to_claim = self._to_claim, {}
            for channel, futures in waiting.items():
                try:
                    claimed = await self._claim(channel, len(futures), list(futures),
                                                outbox.BULK)
                except Exception as exc:
                    for future in futures.values():
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for chat_id, future in futures.items():
                    if not future.done():
                        future.set_result(claimed.rows.get(chat_id, []))

    def _leased(self, batch: list[OutboxMessage]) -> bool:
        assert self.claims is not None
        now = time.monotonic()
        for message in batch:
            lease = self._leases.get(message.id)
            if lease is None or lease[0] <= now or lease[1] != self.claims.generation:
                log.warning("outbox message %d: its lease ends; left to be claimed again",
                            message.id)
                return False
        return True

    async def _release(self, messages: list[OutboxMessage]) -> None:
        assert self.shared is not None
        for message in messages:
            self._leases.pop(message.id, None)
        await self.shared.release([m.id for m in messages])

    async def _record_shared(self, batch: list[OutboxMessage], outcome: SendOutcome) -> None:
        assert self.shared is not None
        now = self.clock.now()
        ids = [m.id for m in batch]
        for message in batch:
            self._leases.pop(message.id, None)
        match outcome:
            case Sent():
                await self._record_sent(ids)
            case Blocked():
                async with self.db.transaction() as conn:
                    for message in batch:
                        await self._record_one(conn, message, outcome, now)
                await self.shared.release(ids)
            case _:
                for message in batch:
                    if isinstance(outcome, Retry) and message.attempts + 1 < MAX_ATTEMPTS:
                        delay = outcome.after_seconds if outcome.after_seconds is not None \
                            else backoff_seconds(message.attempts)
                        await self.shared.record([message.id], status=None,
                                                 error=outcome.error, now=now,
                                                 retry_at=now + timedelta(seconds=delay))
                    else:
                        log.error("outbox message %d failed for good: %s", message.id,
                                  outcome.error)
                        await self.shared.record([message.id], status="failed",
                                                 error=outcome.error, retry_at=None, now=now)

    async def _record_sent(self, ids: list[int]) -> None:
        """Shared: rows sent, recorded with the others whose responses came in the same
        turn of the loop (and while a record is under way): one statement."""
        recorded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sent.append((ids, recorded))
        if self._recording_sent is None or self._recording_sent.done():
            self._recording_sent = asyncio.create_task(self._record_sent_waiting())
        await recorded

    async def _record_sent_waiting(self) -> None:
        assert self.shared is not None
        await asyncio.sleep(0)  # the other responses of this turn join
        while self._sent:
            waiting, self._sent = self._sent, []
            try:
                await self.shared.record([i for ids, _ in waiting for i in ids], status="sent",
                                         error=None, retry_at=None, now=self.clock.now())
            except Exception as exc:
                for _, recorded in waiting:
                    if not recorded.done():
                        recorded.set_exception(exc)
                continue
            for _, recorded in waiting:
                if not recorded.done():
                    recorded.set_result(None)

    async def _count_senders(self) -> None:
        """The overall pace's share: the live senders, counted every COUNT_SECONDS."""
        assert self.claims is not None
        first = True
        while True:
            try:
                n, old_leader = await self.claims.live_senders()
            except Exception as exc:
                log.warning("outbox: could not count the senders (pace kept): %s", exc)
            else:
                if old_leader != self.paused:
                    log.warning("outbox: %s", "an older version leads and sends alone:"
                                " sending paused" if old_leader else "sending again")
                    self.paused = old_leader
                    self._wake.set()
                if not first and n < self._senders_seen:
                    self._wake.set()  # one died: its rows are free now, a round takes them
                self._senders_seen = n
                for sender in self.senders.values():
                    pacer: Pacer | None = getattr(sender, "pacer", None)
                    if pacer is not None and (first or n != pacer.senders_now):
                        pacer.senders(n, starting=1.5 * COUNT_SECONDS if first and n > 1 else 0.0)
                first = False
            await asyncio.sleep(COUNT_SECONDS)

    async def run(self) -> None:
        """Deliver forever: at once when woken, otherwise when the next retry falls due."""
        self._running = True
        counting = asyncio.create_task(self._count_senders(), name="outbox-senders") \
            if self.shared is not None else None
        try:
            await self._run()
        finally:
            if counting is not None:
                counting.cancel()
            self._running = False
            if self._tasks:
                # Sends under way finish and are recorded: one cut off after the platform
                # took it would be sent again after the restart.
                await asyncio.wait(list(self._tasks), timeout=STOP_GRACE_SECONDS)
            for task in list(self._tasks):
                task.cancel()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.deliver_due()
            except Exception:
                log.exception("outbox delivery round failed")
            now = self.clock.now()
            async with self.db.read() as conn:
                next_due = await outbox.next_due_at(conn, list(self.senders), now)
            timeout = 0.0 if self._more_due else IDLE_POLL_SECONDS
            if next_due is not None:
                timeout = max(0.0, min(timeout, (next_due - now).total_seconds()))
            if self._paced_until is not None:
                timeout = min(timeout, self._paced_until)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
