"""Pacing of sends to a platform's flood limits.

Pacing is for bulk: notifications and reminders wait for their slot. A live reply
(an answer to what the person just sent) is never held back; it is counted, so the
bulk sends after it leave room for it.
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


class Pacer:
    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._overall_next = 0.0
        self._chat_next: dict[str, float] = {}

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
        step = 1.0 / self.limits.overall_per_second
        self._overall_next = max(self._overall_next, now) + step
        interval = self.limits.group_interval if is_group else self.limits.per_chat_interval
        self._chat_next[chat_id] = now + interval
        if len(self._chat_next) > 100_000:
            self._forget_old(now)
        return 0.0

    def _forget_old(self, now: float) -> None:
        self._chat_next = {k: v for k, v in self._chat_next.items() if v > now}
