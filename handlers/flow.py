"""A flow is a small state machine: named steps, each a question and what to do with
its answer. The state (flow, step, data) lives in the conversations table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from handlers.turn import Answer, Turn

END = "__end__"

AskStep = Callable[[Turn], Awaitable[None]]
AnswerStep = Callable[[Turn, Answer], Awaitable[str]]


@dataclass(frozen=True)
class Step:
    ask: AskStep
    answer: AnswerStep
    help_key: str | None = None


@dataclass(frozen=True)
class MenuEntry:
    """Where a flow shows in the main menu: for which roles, under which label, in
    which order (smaller first).

    `first`: the roles that find it on the menu's first screen, each with its place there
    (1 first); for the other roles it is one tap away, under "more". `then`: what the
    short "what next" after the flow offers (flow names or menu actions, the likeliest
    next step first); `menu_after`: the whole first screen instead (a new role, a new
    language)."""

    roles: frozenset[str]
    label_key: str
    order: int
    first: Mapping[str, int] = field(default_factory=dict, hash=False)
    then: tuple[str, ...] = ()
    menu_after: bool = False


@dataclass(frozen=True)
class Flow:
    name: str
    title_key: str
    steps: dict[str, Step]
    # Decides the first step (and may prefill data); None means the flow cannot start
    # and has already told the person why.
    begin: Callable[[Turn], Awaitable[str | None]]
    menu: MenuEntry | None = None


def start_over_at(turn: Turn, step: str, *forget: str) -> str:
    """Back to a list step afresh after finishing one of its entries: the answers named
    are forgotten, and "back" does not lead into the entry just done."""
    for key in (*forget, "_return_to", "_forward"):
        turn.data.pop(key, None)
    turn.convo.history.clear()
    turn.convo.step = step  # the engine records no step back when the next step is this one
    return step


def proceed(turn: Turn, default_next: str) -> str:
    """The next step after an answer: back to the confirmation screen when the person
    came from it to edit one field, otherwise onwards."""
    return str(turn.data.pop("_return_to", default_next))
