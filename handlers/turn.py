"""One update being handled: what the flows read and write while it lasts.

A `Turn` lives inside the handling transaction. Flows read the person, their grants
and their conversation from it, and say, ask and notify through it; the engine
writes what was said to the outbox when the flow is done.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib.resources import files
from typing import Any

import locales
from handlers.messages import Choice, Incoming, Location, Reply
from handlers.permissions import Role
from handlers.privacy import PrivacyTerms
from handlers.schedule_time import QuietHours
from handlers.thai_input import normalize_text
from storage import conversations, groups, people, unreceived
from storage.connection import Connection
from storage.conversations import Conversation, Draft
from storage.groups import LinkedGroup
from storage.people import Grant, Identity, Person

STEP_PREFIX = "s"  # "s<seq>:<value>": an answer to the question numbered <seq>
MENU_PREFIX = "m:"  # a main-menu item
NAV_PREFIX = "n:"  # a navigation word as a button: cancel, back, help, menu
ENGINE_KEY_PREFIX = "_"  # conversation data keys the engine keeps for itself
# "Back", "cancel" and "keep" are on every question that takes typed answers, however many
# buttons it has: where a channel has no room for them beside the question's own (LINE's 13
# quick replies, with a photo's or a location's pickers), the channel lays the question's
# buttons out elsewhere (bot/line_channel.py `render`), never leaving any off.
PREVIOUS_SHOWN = 200  # characters of an earlier answer shown when someone comes back


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


@dataclass(frozen=True)
class Listing:
    """Several parameters shown as one list in the reader's language ("A, B and C");
    `last` is the key of the word before the last item (list.and, list.or)."""

    items: tuple[Any, ...]
    last: str = "list.and"


def render(language: str, key: str, params: dict[str, Any]) -> str:
    return locales.t(language, key, **{k: _param(language, v) for k, v in params.items()})


def _param(language: str, value: Any) -> Any:
    if isinstance(value, Localized):
        return render(language, value.key, value.params)
    if isinstance(value, Bilingual):
        return value.pick(language)
    if isinstance(value, DateText):
        return locales.format_date(value.day, language)
    if isinstance(value, Listing):
        shown = [str(_param(language, item)) for item in value.items]
        if len(shown) <= 1:
            return "".join(shown)
        head = locales.t(language, "list.comma").join(shown[:-1])
        joined = f"{head}{locales.t(language, value.last)}{shown[-1]}"
        # An item written with spaces around it (the TAO's Thai abbreviation, so that it
        # stands apart from the Thai words of the sentence) meets the separators' own
        # spaces: one is enough.
        return _LIST_SPACES.sub(" ", joined).replace(" ,", ",")
    return value


_LIST_SPACES = re.compile(r"(?<=\S) {2,}")


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
    # Buttons that open what the notification is about: (label key, menu action); the
    # engine renders each label in the recipient's language as a `m:<action>` button.
    actions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Reach:
    """Whom one notification reached: the role it was meant for, how many of the role's
    holders have a chat the bot can write to, how many linked group chats heard it."""

    role: str
    people: int
    groups: int = 0
    primary: bool = True  # meant for people who act on it, not only to let them know

    @property
    def reached(self) -> bool:
        return bool(self.people or self.groups)


@dataclass(frozen=True)
class Delivery:
    """What became of a submission's notifications, and how to say so to its sender."""

    complete: bool  # every role it was meant for has someone who received it
    unreceived: bool  # nobody who should act on it could receive it
    note: Localized  # "sent to the core team" / "... but nobody can receive it yet ..."


# Who hears of a submission nobody could receive: the district committee in its daily
# notice, the administrators (the log) when the district has nobody either, or nobody
# further when what is missing is the village's own committee.
DISTRICT_HEARS, ADMIN_HEARS, NOBODY_HEARS = "district", "admin", "village"


class Turn:
    def __init__(self, *, conn: Connection, now: datetime, incoming: Incoming | None,
                 identity: Identity, person: Person | None, grants: list[Grant],
                 convo: Conversation, bot_username: str | None = None,
                 public_url: str | None = None, line_basic_id: str | None = None,
                 quiet_hours: QuietHours | None = None,
                 privacy: PrivacyTerms | None = None,
                 drafts: list[Draft] | None = None) -> None:
        self.conn = conn
        self.privacy = privacy or PrivacyTerms()  # what the privacy notice says
        self.now = now
        self.incoming = incoming
        self.identity = identity
        self.person = person
        self.grants = grants
        self.convo = convo
        self.bot_username = bot_username
        self.public_url = public_url  # the web site's origin, None when it is not set up
        self.line_basic_id = line_basic_id  # LINE's basic id (@…), None when not set up
        self.quiet_hours = quiet_hours  # when bulk messages wait (None: CERCAP_QUIET_HOURS)
        self.replies: list[Reply] = []
        self.notifications: list[Notification] = []
        self.group_notifications: list[tuple[list[LinkedGroup], str, dict[str, Any]]] = []
        self.stale_button = False
        self._drafts = drafts  # as read with the standing; None: read when asked

    async def drafts(self) -> list[Draft]:
        """The person's drafts, the newest first (as the standing read brought them, less
        any this turn deleted; read again after this turn saved one)."""
        if self._drafts is None:
            self._drafts = await conversations.drafts_of(self.conn, self.identity.id)
        return self._drafts

    async def save_draft(self, draft: Draft) -> None:
        await conversations.save_draft(self.conn, self.identity.id, draft)
        self._drafts = None

    async def delete_draft(self, flow: str) -> None:
        await conversations.delete_draft(self.conn, self.identity.id, flow)
        if self._drafts is not None:  # the others are as read: not read again
            self._drafts = [d for d in self._drafts if d.flow != flow]

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

    def say_delivered(self, delivery: Delivery, key: str, **params: Any) -> None:
        """`key` ("saved, sent to the core team") when everybody the submission was meant
        for received it; otherwise `key`_to, which says whom it did reach with
        `{delivery}`."""
        if delivery.complete:
            self.say(key, **params)
        else:
            self.say(f"{key}_to", delivery=delivery.note, **params)

    def ask(self, text: str, choices: list[tuple[str, str]] = (),  # type: ignore[assignment]
            expects: str | None = None, *, nav: bool | None = None,
            previous: str | None = None, attach: str | None = None) -> None:
        """Ask the current step's question. Its buttons carry the question's number,
        so a press on an older question's button is recognised as such.

        `nav`: the question takes typed answers, so it also shows "back" and "cancel"
        (None: when it has no buttons of its own). `previous`: its earlier answer as shown
        to the person ("" for none; None: the step's own answer, found under the step's
        name), offered to keep when they came back to it (back, or edit on a
        confirmation screen). `attach`: what else the question takes when sent ("photo",
        "location", "photo_or_location": a confirmation screen that attaches them), so a
        channel offers its pickers too."""
        choices = list(choices)
        nav = not choices if nav is None else nav
        shown = self._earlier_answer(choices) if previous is None else previous
        if shown and (self.convo.data.get("_forward") or self.convo.data.get("_return_to")):
            text = f"{self.t('nav.previous_answer', answer=shown[:PREVIOUS_SHOWN])}\n{text}"
            choices.insert(0, (self.t("nav.keep"), f"{NAV_PREFIX}keep"))
        if nav and expects != "confirm":
            navs = [(self.t("nav.back"), f"{NAV_PREFIX}back"),
                    (self.t("common.cancel"), f"{NAV_PREFIX}cancel")]
            choices += [item for item in navs if item[1] not in {v for _, v in choices}]
        self.convo.seq += 1
        tagged = tuple(Choice(label, value if value.startswith(NAV_PREFIX)
                              else f"{STEP_PREFIX}{self.convo.seq}:{value}")
                       for label, value in choices)
        self.convo.data["_choices"] = {label_key(label): value for label, value in choices}
        located = {expects, attach} & {"location", "photo_or_location"}
        extra: dict[str, Any] = ({"share_location": self.t("common.share_location")}
                                 if located else {})
        if attach:
            extra["attach"] = attach
        self.replies.append(Reply(text, tagged, expects=expects, extra=extra))

    def _earlier_answer(self, choices: list[tuple[str, str]]) -> str:
        """The answer stored under the current step's name, as the person knows it: the
        label of the button it came from, or the value itself."""
        value = self.convo.data.get(self.convo.step or "")
        labels = {v: label for label, v in choices}
        if isinstance(value, list):
            return self.t("list.comma").join(str(labels.get(str(v), v)) for v in value)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return ""
        if str(value) in labels:
            return labels[str(value)]
        return f"{value:,}" if isinstance(value, int | float) else value

    def menu_choice(self, text: str, items: list[tuple[str, str]]) -> None:
        """Menu buttons (`m:<action>`); an item already a navigation button (`n:menu`)
        stays one."""
        self.replies.append(Reply(text, tuple(
            Choice(label, action if action.startswith(NAV_PREFIX) else f"{MENU_PREFIX}{action}")
            for label, action in items)))

    def notify(self, person_ids: list[int], key: str, *,
               actions: Sequence[tuple[str, str]] = (), **params: Any) -> None:
        """Tell these people (each once: someone holding two of the roles told gets one
        message), with `actions` as buttons: (label key, menu action)."""
        told = {n.person_id for n in self.notifications if n.key == key}
        for person_id in dict.fromkeys(person_ids):
            if person_id not in told:
                self.notifications.append(Notification(person_id, key, params,
                                                       tuple(actions)))

    def notify_groups(self, linked: list[LinkedGroup], key: str, **params: Any) -> None:
        """Also tell these group chats (linked to an area, as read this turn), in Thai, the
        groups' language."""
        self.group_notifications.append((linked, key, params))

    async def notify_holders(self, role: str, area_code: str, key: str, *,
                             also: Sequence[int] = (), with_groups: bool = False,
                             primary: bool = True, actions: Sequence[tuple[str, str]] = (),
                             **params: Any) -> Reach:
        """Tell the people holding `role` on `area_code` (and `also`), with the group
        chats linked to the area when `with_groups`; returns whom it reached. Only
        people with a chat the bot can still write to count: nothing reaches the rest."""
        groups_later = await groups.of_area_later(self.conn, area_code) if with_groups \
            else None  # read with the holders, in the same round trip
        holders = await people.holders_of(self.conn, role, area_code)
        reachable = await people.reachable(self.conn, [*also, *holders])
        self.notify(reachable, key, actions=actions, **params)
        linked: list[LinkedGroup] = []
        if groups_later is not None:
            linked = await groups_later()
            self.notify_groups(linked, key, **params)
        return Reach(role, len(reachable), len(linked), primary)

    async def delivery(self, reaches: Sequence[Reach], *, village_code: str, kind: str,
                       entity_id: int, event: str | None = None) -> Delivery:
        """Whom a submission from `village_code` reached, as a note for its sender. When
        nobody who should act on it could receive it, the audit log says so (the daily
        notice to the district reads it from there) and the note says who will hear."""
        who = [Localized(f"delivery.to.{r.role}") for r in reaches if r.people]
        if any(r.groups for r in reaches):
            who.append(Localized("delivery.to.groups"))
        missing = list(dict.fromkeys(r.role for r in reaches if not r.people))
        primary = [r for r in reaches if r.primary]
        nobody = bool(primary) and not any(r.reached for r in primary)
        reached = Listing(tuple(who))
        if not nobody:
            if not missing:
                return Delivery(True, False, Localized("delivery.reached", {"who": reached}))
            return Delivery(False, False, Localized("delivery.partly", {
                "who": reached,
                "missing": Listing(tuple(Localized(f"delivery.role.{m}") for m in missing),
                                   "list.or")}))
        roles = list(dict.fromkeys(r.role for r in primary))
        await unreceived.record(self.conn, now=self.now,
                                person_id=self.person.id if self.person else None,
                                village_code=village_code, kind=kind, entity_id=entity_id,
                                roles=roles, event=event)
        hears = await self._who_hears(roles, village_code)
        shown = Listing(tuple(Localized(f"delivery.role.{m}") for m in missing), "list.or")
        if who:
            return Delivery(False, True, Localized(f"delivery.also_nobody.{hears}",
                                                   {"who": reached, "missing": shown}))
        return Delivery(False, True, Localized(f"delivery.nobody.{hears}", {"missing": shown}))

    async def _who_hears(self, roles: list[str], village_code: str) -> str:
        if not set(roles) <= set(unreceived.REPORTED_ROLES):
            return NOBODY_HEARS
        if Role.DISTRICT in roles:
            return ADMIN_HEARS
        district = await people.holders_of(self.conn, Role.DISTRICT, village_code[:4])
        return DISTRICT_HEARS if await people.reachable(self.conn, district) else ADMIN_HEARS


def _VARIATION_SELECTOR(ch: str) -> bool:
    return "\ufe00" <= ch <= "\ufe0f"


@functools.cache
def _label_spellings() -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
    """From locales/input_vocabulary.json "labels": the characters a typed label may
    leave out or add (the repetition mark), and the spellings taken as one (the glossary's
    and a common one: each pair's first is read as its second)."""
    raw = json.loads(files("locales").joinpath("input_vocabulary.json").read_text("utf-8"))
    labels = raw.get("labels") or {}
    return (frozenset(labels.get("ignored", ())),
            tuple((str(a), str(b)) for a, b in labels.get("same_spelling", ())))


@lru_cache(maxsize=4096)
def label_key(label: str) -> str:
    """A label as it is compared with what people type: letters, marks and digits only,
    so typing "save" matches the button "✅ save"; spaces, zero-width characters and the
    vocabulary's ignored characters left out, and its variant spellings read as one."""
    ignored, spellings = _label_spellings()
    key = "".join(ch for ch in normalize_text(label).casefold()
                  if unicodedata.category(ch)[0] in "LMN" and not _VARIATION_SELECTOR(ch)
                  and ch not in ignored)
    for spelled, read_as in spellings:
        key = key.replace(spelled, read_as)
    return key


def typed_choice(convo: Conversation, text: str) -> str | None:
    """The value of the current question's button whose label the person typed."""
    choices: dict[str, str] = convo.data.get("_choices") or {}
    return choices.get(label_key(text))


def flow_data(data: dict[str, Any]) -> dict[str, Any]:
    """The conversation data the person entered, without the engine's own keys."""
    return {k: v for k, v in data.items() if not k.startswith(ENGINE_KEY_PREFIX)}
