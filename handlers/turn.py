"""One update being handled: what the flows read and write while it lasts.

A `Turn` lives inside the handling transaction. Flows read the person, their grants
and their conversation from it, and say, ask and notify through it; the engine
writes what was said to the outbox when the flow is done.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import locales
from handlers.messages import Choice, Incoming, Location, Reply
from handlers.thai_input import normalize_text
from storage.connection import Connection
from storage.conversations import Conversation
from storage.people import Grant, Identity, Person

STEP_PREFIX = "s"  # "s<seq>:<value>": an answer to the question numbered <seq>
MENU_PREFIX = "m:"  # a main-menu item
NAV_PREFIX = "n:"  # a navigation word as a button: cancel, back, help, menu
ENGINE_KEY_PREFIX = "_"  # conversation data keys the engine keeps for itself


@dataclass(frozen=True)
class Localized:
    """A parameter rendered in the language of whoever reads the message."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Bilingual:
    """A name that exists in both languages (an area, a category): shown in the reader's."""

    th: str
    en: str

    def pick(self, language: str) -> str:
        return self.en if language == "en" and self.en else self.th


@dataclass(frozen=True)
class DateText:
    day: Any  # datetime.date


def render(language: str, key: str, params: dict[str, Any]) -> str:
    return locales.t(language, key, **{k: _param(language, v) for k, v in params.items()})


def _param(language: str, value: Any) -> Any:
    if isinstance(value, Localized):
        return render(language, value.key, value.params)
    if isinstance(value, Bilingual):
        return value.pick(language)
    if isinstance(value, DateText):
        return locales.format_date(value.day, language)
    return value


class Invalid(Exception):
    """An answer that cannot be used: explain with `key` and ask the same question again."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Answer:
    """What the person answered to the current question."""

    text: str = ""
    choice: str | None = None
    photo: str | None = None
    photo_id: str | None = None
    location: Location | None = None


@dataclass(frozen=True)
class Notification:
    person_id: int
    key: str
    params: dict[str, Any]


class Turn:
    def __init__(self, *, conn: Connection, now: datetime, incoming: Incoming | None,
                 identity: Identity, person: Person | None, grants: list[Grant],
                 convo: Conversation, bot_username: str | None = None) -> None:
        self.conn = conn
        self.now = now
        self.incoming = incoming
        self.identity = identity
        self.person = person
        self.grants = grants
        self.convo = convo
        self.bot_username = bot_username
        self.replies: list[Reply] = []
        self.notifications: list[Notification] = []
        self.group_notifications: list[tuple[str, str, dict[str, Any]]] = []
        self.stale_button = False

    @property
    def language(self) -> str:
        return self.person.language if self.person else locales.DEFAULT_LANGUAGE

    @property
    def data(self) -> dict[str, Any]:
        return self.convo.data

    def t(self, key: str, **params: Any) -> str:
        return render(self.language, key, params)

    def say(self, key: str, **params: Any) -> None:
        self.replies.append(Reply(self.t(key, **params)))

    def say_text(self, text: str) -> None:
        self.replies.append(Reply(text))

    def say_reply(self, reply: Reply) -> None:
        self.replies.append(reply)

    def ask(self, text: str, choices: list[tuple[str, str]] = (),  # type: ignore[assignment]
            expects: str | None = None) -> None:
        """Ask the current step's question. Its buttons carry the question's number,
        so a press on an older question's button is recognised as such."""
        self.convo.seq += 1
        tagged = tuple(Choice(label, value if value.startswith(NAV_PREFIX)
                              else f"{STEP_PREFIX}{self.convo.seq}:{value}")
                       for label, value in choices)
        self.convo.data["_choices"] = {label_key(label): value for label, value in choices}
        extra = {"share_location": self.t("common.share_location")} if expects == "location" else {}
        self.replies.append(Reply(text, tagged, expects=expects, extra=extra))

    def menu_choice(self, text: str, items: list[tuple[str, str]]) -> None:
        self.replies.append(Reply(text, tuple(Choice(label, f"{MENU_PREFIX}{action}")
                                              for label, action in items)))

    def notify(self, person_ids: list[int], key: str, **params: Any) -> None:
        for person_id in dict.fromkeys(person_ids):
            self.notifications.append(Notification(person_id, key, params))

    def notify_groups(self, area_code: str, key: str, **params: Any) -> None:
        """Also tell the group chats linked to `area_code` (in Thai, the groups' language)."""
        self.group_notifications.append((area_code, key, params))


def _VARIATION_SELECTOR(ch: str) -> bool:
    return "\ufe00" <= ch <= "\ufe0f"


def label_key(label: str) -> str:
    """A label as it is compared with what people type: letters, marks and digits only,
    so typing "save" matches the button "✅ save"."""
    kept = (ch for ch in normalize_text(label).casefold()
            if unicodedata.category(ch)[0] in "LMN" and not _VARIATION_SELECTOR(ch))
    return "".join(kept)


def typed_choice(convo: Conversation, text: str) -> str | None:
    """The value of the current question's button whose label the person typed."""
    choices: dict[str, str] = convo.data.get("_choices") or {}
    return choices.get(label_key(text))


def flow_data(data: dict[str, Any]) -> dict[str, Any]:
    """The conversation data the person entered, without the engine's own keys."""
    return {k: v for k, v in data.items() if not k.startswith(ENGINE_KEY_PREFIX)}
