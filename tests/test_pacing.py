"""Bulk sends are paced to the platform's limits; live replies never wait."""

from __future__ import annotations

from bot.pacing import TELEGRAM_LIMITS, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bulk_to_one_chat_waits_a_second_between_messages() -> None:
    clock = Clock()
    pacer = Pacer(TELEGRAM_LIMITS, clock)
    assert pacer.wait_for("42", is_group=False, live=False) == 0
    assert pacer.wait_for("42", is_group=False, live=False) == 1.0
    clock.now += 1.0
    assert pacer.wait_for("42", is_group=False, live=False) == 0


def test_group_chats_get_twenty_a_minute() -> None:
    clock = Clock()
    pacer = Pacer(TELEGRAM_LIMITS, clock)
    assert pacer.wait_for("-100", is_group=True, live=False) == 0
    assert pacer.wait_for("-100", is_group=True, live=False) == 3.0


def test_overall_rate_is_thirty_a_second() -> None:
    clock = Clock()
    pacer = Pacer(TELEGRAM_LIMITS, clock)
    sent = sum(pacer.wait_for(str(chat), is_group=False, live=False) == 0 for chat in range(100))
    assert sent == 1  # the rest wait for their thirtieth of a second
    clock.now += 1.0
    sent = sum(pacer.wait_for(str(chat), is_group=False, live=False) == 0
               for chat in range(1000, 1100))
    assert sent == 1
    # Over one simulated second of steady sending, 30 leave.
    sent = 0
    for tick in range(1000):
        clock.now += 0.001
        sent += pacer.wait_for(f"c{tick}", is_group=False, live=False) == 0
    assert 29 <= sent <= 31


def test_a_live_reply_never_waits_behind_bulk() -> None:
    clock = Clock()
    pacer = Pacer(TELEGRAM_LIMITS, clock)
    for chat in range(50):
        pacer.wait_for(str(chat), is_group=False, live=False)
    assert pacer.wait_for("7", is_group=False, live=True) == 0
    assert pacer.wait_for("7", is_group=False, live=True) == 0  # a reply of several messages
