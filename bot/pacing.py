"""Pacing of sends to a platform's flood limits.

Pacing is for bulk: notifications and reminders wait for their slot. A live reply
(an answer to what the person just sent) is never held back; it is counted, so the
bulk sends after it leave room for it.

Several instances on one PostgreSQL (storage.outbox.SharedOutbox) all send, and the
limits hold for the deployment as a whole:
- overall: each live sender paces at its share, `senders(n)` (n counted every
  outbox_sender.COUNT_SECONDS from the senders' locks in pg_locks, a statement a second
  that costs the sends nothing): at most floor(overall / n) sends in any window of
  1 + WINDOW_MARGIN seconds each, so n senders together never exceed the overall limit,
  whatever their phases (a network jitter up to the margin included). A sender that
  starts, or learns of more senders, adopts the smaller share at once; one that just
  started sends no bulk for its first count period (the others may not know of it yet);
- per chat and per group: a chat is served by one sender at a time (the claims), and a
  sender that takes a chat over learns when it was last sent to (`sent_ago`).
One process (SQLite, or one instance): n = 1, the pace is today's, 30 a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    overall_per_second: float
    per_chat_interval: float  # seconds between two messages to one chat
    group_interval: float  # seconds between two messages to one group chat


TELEGRAM_LIMITS = Limits(overall_per_second=30.0, per_chat_interval=1.0, group_interval=3.0)
WINDOW_MARGIN = 0.03  # seconds: a window of 1 s counted anywhere holds one share, jitter too


class Pacer:
    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._overall_next = 0.0
        self._chat_next: dict[str, float] = {}
        self._step = 1.0 / limits.overall_per_second
        self.senders_now = 1

    def senders(self, n: int, *, starting: float = 0.0) -> None:
        """n senders share the overall limit (this one included). `starting`: this sender
        just started, the others may not count it yet: no bulk for `starting` seconds."""
        n = max(1, n)
        self.senders_now = n
        if n == 1:
            self._step = 1.0 / self.limits.overall_per_second
        else:
            share = max(1, int(self.limits.overall_per_second // n))
            self._step = (1.0 + WINDOW_MARGIN) / share
        if starting:
            self._overall_next = max(self._overall_next, self.clock() + starting)

    def sent_ago(self, chat_id: str, seconds: float, *, is_group: bool) -> None:
        """Another sender sent to this chat `seconds` ago: its interval holds here too."""
        interval = self.limits.group_interval if is_group else self.limits.per_chat_interval
        if seconds < interval:
            until = self.clock() + interval - max(0.0, seconds)
            self._chat_next[chat_id] = max(self._chat_next.get(chat_id, 0.0), until)

    def overall_wait(self) -> float:
        """Seconds until any paced message may go."""
        return max(0.0, self._overall_next - self.clock())

    def wait_for(self, chat_id: str, *, is_group: bool, live: bool) -> float:
        """Seconds this message must still wait; 0 means send now (its slot is taken)."""
        now = self.clock()
        if not live:
            wait = max(self._overall_next, self._chat_next.get(chat_id, 0.0)) - now
            if wait > 0:
                return wait
        self._overall_next = max(self._overall_next, now) + self._step
        interval = self.limits.group_interval if is_group else self.limits.per_chat_interval
        self._chat_next[chat_id] = now + interval
        if len(self._chat_next) > 100_000:
            self._forget_old(now)
        return 0.0

    def _forget_old(self, now: float) -> None:
        self._chat_next = {k: v for k, v in self._chat_next.items() if v > now}
