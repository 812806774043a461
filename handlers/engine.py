"""The conversation engine: one incoming update in, replies and notifications out.

Handling one update is one transaction: claim the update id (a redelivery is
dropped), advance the conversation, write the domain rows, queue the replies and
notifications in the outbox. Either all of it commits or none of it does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, overload

from handlers import group_commands, intents, menu, opening, steps
from handlers.clock import Clock, SystemClock
from handlers.flow import END, Flow
from handlers.flows import FLOWS
from handlers.messages import Choice, Incoming, Location, Reply, joined
from handlers.privacy import PrivacyTerms
from handlers.schedule_time import QuietHours
from handlers.thai_input import normalize_text
from handlers.turn import (
    MENU_PREFIX,
    NAV_PREFIX,
    STEP_PREFIX,
    Answer,
    Invalid,
    Turn,
    flow_data,
    render,
    typed_choice,
)
from locales import DEFAULT_LANGUAGE, catalog
from storage import conversations, groups, inbox, outbox, people, processed_updates
from storage.connection import Connection
from storage.conversations import Conversation, Draft
from storage.db import Database
from storage.outbox import Chat, OutboxMessage

Ready = dict[Chat, list[OutboxMessage]]  # a chat's every pending message, just queued
Listener = Callable[[set[Chat] | None, Ready | None], None]
# The lease a reply's INSERT writes for a channel, or None (storage.outbox.Lease).
ReplyLease = Callable[[str], outbox.Lease | None]
log = logging.getLogger(__name__)

IDLE_TIMEOUT = timedelta(hours=24)
IDLE_BATCH = 100  # idle conversations closed in one transaction
MAX_TEXT = 4000  # longer pastes are cut before any flow sees them
NAV_WORDS = ("cancel", "back", "help", "menu", "keep")
# "r:<action>": a tap on the LINE rich menu (bot/line_setup.py). Navigation wherever it
# arrives, never an answer: the open flow is kept as a draft and the entry opens.
RICH_MENU_PREFIX = "r:"
# A question asked again after a notification (`open_question`), for a channel that shows
# a question's buttons only on the newest message (LINE's quick replies).
REASKED = "reasked"
REASK_LOOKBACK = 3  # newest live replies of a chat searched for the open question
# Conversation data: this flow was opened at one item by a notification's button while the
# person had a draft of the same flow (e.g. kept when the button was pressed mid-report).
# That draft is theirs: the opened item's end or cancel does not delete it, and leaving the
# item does not overwrite it (the item stays one button away).
BESIDE_DRAFT = "_beside_draft"


@dataclass(frozen=True)
class HandleResult:
    duplicate: bool = False  # the update was handled before: nothing was done
    stale_button: bool = False  # a button of an older question: not taken as an answer


@dataclass(frozen=True)
class EngineSettings:
    bot_username: str | None = None
    idle_timeout: timedelta = IDLE_TIMEOUT
    public_url: str | None = None  # the web site's origin (CERCAP_PUBLIC_URL), for links
    # the privacy notice's terms (handlers/privacy.py)
    privacy: PrivacyTerms = field(default_factory=PrivacyTerms)
    line_basic_id: str | None = None  # the LINE account's basic id (LINE_BOT_BASIC_ID)
    quiet_hours: QuietHours | None = None  # CERCAP_QUIET_HOURS (None: read from it)


def _nav_words() -> dict[str, str]:
    words: dict[str, str] = {}
    for language in ("th", "en"):
        for nav in NAV_WORDS:
            for word in catalog(language)[f"nav.words.{nav}"].split("|"):
                words[normalize_text(word).casefold()] = nav
    return words


def _worth_keeping(convo: Conversation) -> bool:
    """Whether leaving the flow keeps a draft: the person entered something beyond what
    the flow filled in by itself when it began (never over a draft an opened item is beside)."""
    if convo.data.get(BESIDE_DRAFT):
        return False
    return flow_data(convo.data) != convo.data.get("_prefilled", {})


def _follow_forward(convo: Conversation, next_step: str) -> None:
    """After "back", answering again: the steps ahead stay known (their earlier answers
    offered to keep) while the answers lead the same way; another way forgets them."""
    ahead = convo.data.get("_forward")
    if ahead:
        if ahead[-1] == next_step:
            ahead.pop()
        else:
            ahead.clear()


def _opening_answer(opening: dict[str, Any] | None) -> Answer | None:
    """`menu.opening_data` back into an Answer."""
    if not opening:
        return None
    location = opening.get("location")
    return Answer(text=opening.get("text") or "", photo=opening.get("photo"),
                  photo_id=opening.get("photo_id"),
                  location=Location(*location) if location else None)


class Engine:
    def __init__(self, db: Database, clock: Clock | None = None,
                 settings: EngineSettings | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.settings = settings or EngineSettings()
        self._nav = _nav_words()
        self._listeners: list[Listener] = []
        # Told of every update handled: (channel, outcome, seconds); bot/metrics.py counts.
        self.on_handled: Callable[[str, str, float], None] | None = None
        # The sender's lease for the replies of a turn it is handed (bot/outbox_sender.py
        # `reply_lease`: the shared outbox only).
        self.reply_lease: ReplyLease | None = None

    def on_enqueued(self, listener: Listener) -> None:
        """Called after a transaction that queued messages commits (wakes the senders),
        with the (channel, chat_id) pairs it queued for, or None when it does not say,
        and the chats whose every pending message it holds (a reply to a chat with nothing
        else waiting): they can be sent without reading them back."""
        self._listeners.append(listener)

    def _wake(self, chats: set[Chat] | None = None, ready: Ready | None = None) -> None:
        for listener in self._listeners:
            listener(chats, ready)

    async def handle(self, incoming: Incoming) -> HandleResult:
        """Handle one update, all or nothing."""
        started, outcome = time.perf_counter(), "error"
        try:
            result = await self._handle(incoming)
            outcome = ("duplicate" if result.duplicate else
                       "stale_button" if result.stale_button else "handled")
            return result
        except inbox.OlderUpdateWaiting:
            outcome = "older_waiting"  # nothing done: intake hands the older one first
            raise
        finally:
            if self.on_handled is not None:
                self.on_handled(incoming.channel, outcome, time.perf_counter() - started)

    async def _handle(self, incoming: Incoming) -> HandleResult:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            claim: inbox.Claim | None = None
            if incoming.inbox_id is not None:  # its stored row is its key: handled now
                # Goes with the first read (`_turn`), which checks it before any write
                # (a group's message: sent on its own by `taken`).
                claim = inbox.claim_later(conn, incoming.inbox_id, now)
            elif not await processed_updates.claim(conn, incoming.channel,
                                                   incoming.update_id, now):
                return self._duplicate(incoming)
            if incoming.is_group:
                if claim is not None and not await claim.taken():
                    return self._duplicate(incoming)
                await group_commands.handle(conn, incoming, now)
                self._wake()
                return HandleResult()
            turn = await self._turn(conn, incoming, now, claim=claim)
            if turn is None:
                return self._duplicate(incoming)
            await self._dispatch(turn)
            await conversations.save(conn, turn.convo, now)
            chats, replies = await self._enqueue(turn, handing_over=True)
        # The replies' INSERTs went with the COMMIT: what they said is read now.
        self._wake(chats, await self._ready(turn, replies))
        return HandleResult(stale_button=turn.stale_button)

    @staticmethod
    def _duplicate(incoming: Incoming) -> HandleResult:
        log.info("duplicate update %s/%s ignored", incoming.channel, incoming.update_id)
        return HandleResult(duplicate=True)

    async def apologize(self, channel: str, user_id: str, chat_id: str) -> None:
        """Something went wrong handling what the person sent: say so, politely."""
        language = await self.language_of(channel, user_id)
        async with self.db.transaction() as conn:
            await outbox.enqueue(conn, channel=channel, chat_id=chat_id, person_id=None,
                                 priority=outbox.LIVE_REPLY, now=self.clock.now(),
                                 payload=Reply(catalog(language)["error.generic"]).to_payload())
        self._wake({(channel, chat_id)})

    async def mark_unreachable(self, channel: str, chat_id: str) -> None:
        """The person blocked the bot or left the chat: no more messages to it."""
        async with self.db.transaction() as conn:
            await people.set_identity_active(conn, channel, chat_id, False)
            await groups.deactivate_chat(conn, channel, chat_id)

    async def has_joined(self, channel: str, user_id: str) -> bool:
        """Whether this chat identity belongs to a person who joined (photos from anyone
        else are never downloaded)."""
        async with self.db.read() as conn:
            identity = await people.identity(conn, channel, user_id)
        return identity is not None and identity.person_id is not None

    async def language_of(self, channel: str, user_id: str) -> str:
        async with self.db.read() as conn:
            identity = await people.identity(conn, channel, user_id)
            person = (await people.person(conn, identity.person_id)
                      if identity and identity.person_id else None)
        return person.language if person else DEFAULT_LANGUAGE

    @overload
    async def _turn(self, conn: Connection, incoming: Incoming | None, now: datetime,
                    identity: people.Identity | None = None, claim: None = None) -> Turn: ...

    @overload
    async def _turn(self, conn: Connection, incoming: Incoming | None, now: datetime,
                    identity: people.Identity | None = None,
                    claim: inbox.Claim | None = None) -> Turn | None: ...

    async def _turn(self, conn: Connection, incoming: Incoming | None, now: datetime,
                    identity: people.Identity | None = None,
                    claim: inbox.Claim | None = None) -> Turn | None:
        """The turn of `incoming`; None when its `claim` (sent with the first read) finds
        it handled before."""
        known = None
        if identity is None:
            assert incoming is not None
            # Nearly every update comes from someone known and reachable: one read.
            known = await conversations.standing(conn, incoming.channel, incoming.user_id,
                                                 claim)
            if claim is not None and not await claim.taken():
                return None
            if known is None or not known.identity.active:
                known = None
                identity = await people.ensure_identity(conn, incoming.channel,
                                                        incoming.user_id, incoming.chat_id, now)
        drafts = None
        if known is not None:
            identity, person, grants, convo, drafts = (
                known.identity, known.person, known.grants, known.convo, known.drafts)
        else:
            assert identity is not None
            person = (await people.person(conn, identity.person_id) if identity.person_id
                      else None)
            grants = await people.grants_of(conn, person.id) if person else []
            convo = await conversations.load(conn, identity.id)
        return Turn(conn=conn, now=now, incoming=incoming, identity=identity, person=person,
                    grants=grants, convo=convo, drafts=drafts,
                    bot_username=self.settings.bot_username,
                    privacy=self.settings.privacy,
                    public_url=self.settings.public_url,
                    line_basic_id=self.settings.line_basic_id,
                    quiet_hours=self.settings.quiet_hours)

    # --- deciding what an update means -------------------------------------------

    async def _dispatch(self, turn: Turn) -> None:
        incoming = turn.incoming
        assert incoming is not None
        convo = turn.convo
        idle = turn.now - convo.updated_at if convo.updated_at else None
        if convo.flow and idle and idle > self.settings.idle_timeout:
            # Closed politely (a draft kept); what was sent now is then read as a new
            # message at the menu, never as the answer to the day-old question.
            await self._close_idle(turn)
        text = normalize_text(incoming.text or "")[:MAX_TEXT]
        if text.startswith("/start"):
            await self._start_command(turn, text.removeprefix("/start").strip())
            return
        if incoming.payload and incoming.payload.startswith(RICH_MENU_PREFIX):
            await self._rich_menu_tap(turn, incoming.payload.removeprefix(RICH_MENU_PREFIX))
            return
        nav = self._nav_word(incoming, text)
        if nav:
            await self._navigate(turn, nav)
            return
        if incoming.unsupported:
            turn.say("input.unsupported")
            await self._reask(turn)
            return
        answer = self._answer(turn, incoming, text)
        if answer is None:
            turn.stale_button = True
            turn.say("input.old_button")
            await self._reask(turn)
            return
        if convo.flow and not opening.opens(answer.choice):
            await self._run_step(turn, answer)
        elif turn.person is None:
            await self.start_flow(turn, "join", answer)
        elif answer.choice and answer.choice.startswith(MENU_PREFIX):
            await self._menu_action(turn, answer.choice.removeprefix(MENU_PREFIX))
        elif answer.text and (action := await menu.action_for_text(turn, answer.text)):
            await self._menu_action(turn, action)
        else:  # free text or a photo at the menu: understood, never dropped
            await intents.understand(self, turn, answer)

    def _nav_word(self, incoming: Incoming, text: str) -> str | None:
        if incoming.payload and incoming.payload.startswith(NAV_PREFIX):
            word = incoming.payload.removeprefix(NAV_PREFIX)
            return word if word in NAV_WORDS else None
        if incoming.payload:
            return None
        return self._nav.get(text.casefold().lstrip("/"))

    def _answer(self, turn: Turn, incoming: Incoming, text: str) -> Answer | None:
        """The answer to the current question, or None for a button of an older one."""
        choice: str | None = None
        payload = incoming.payload
        if payload:
            if payload.startswith(MENU_PREFIX):
                # A notification's button opens its item even mid-question (draft kept);
                # any other menu button there is an old one.
                if turn.convo.flow and not opening.opens(payload):
                    return None
                choice = payload
            elif payload.startswith(STEP_PREFIX) and ":" in payload:
                seq, _, value = payload[len(STEP_PREFIX):].partition(":")
                if not turn.convo.flow or seq != str(turn.convo.seq):
                    return None
                choice = value
            else:
                return None
            text = ""
        elif text and turn.convo.flow:
            choice = typed_choice(turn.convo, text)
        return Answer(text=text, choice=choice, photo=incoming.photo, photo_id=incoming.photo_id,
                      location=incoming.location)

    # --- flows ---------------------------------------------------------------------

    async def start_flow(self, turn: Turn, name: str, answer: Answer | None = None, *,
                         ask_about_draft: bool = True) -> None:
        """Start flow `name` (with `answer`, what the person sent to start it, as
        `_opening`). With a draft of the same flow, the person is first asked whether to
        resume it or start afresh: a draft is never overwritten unasked."""
        flow = FLOWS[name]
        if ask_about_draft and turn.person is not None and flow.steps:
            draft = next((d for d in await turn.drafts()
                          if d.flow == name and d.step in flow.steps), None)
            if draft is not None:
                self._finish(turn)
                menu.ask_about_draft(turn, flow, draft, answer)
                return
        turn.convo.flow, turn.convo.step = name, None
        turn.convo.data, turn.convo.history = {}, []
        if answer is not None:
            turn.data["_opening"] = menu.opening_data(answer)
        first = await flow.begin(turn)
        turn.data.pop("_opening", None)
        if first is None:  # the flow said why it cannot go on (or all it had to say)
            self._finish(turn)
            if turn.person is not None:
                await menu.show(turn, after_flow=True, finished=name, again=False)
            return
        if first == END:  # done with what it was started with (a member's second code)
            self._finish(turn)
            await menu.show(turn, after_flow=True, finished=name)
            return
        # What the flow filled in by itself: leaving with nothing more is no draft. What
        # the person sent to start it is theirs, so then anything counts.
        turn.data["_prefilled"] = flow_data(turn.data) if answer is None else {}
        await self._go(turn, flow, first)

    async def _run_step(self, turn: Turn, answer: Answer) -> None:
        flow = FLOWS.get(turn.convo.flow or "")
        step = flow.steps.get(turn.convo.step or "") if flow else None
        if flow is None or step is None:  # a flow or step that no longer exists
            log.warning("conversation %s in unknown %s/%s: reset",
                        turn.identity.id, turn.convo.flow, turn.convo.step)
            self._finish(turn)
            await menu.show(turn)
            return
        try:
            next_step = await step.answer(turn, answer)
        except Invalid as bad:
            bad = steps.explained(turn, answer, bad)
            turn.say(bad.key, **bad.params)
            await step.ask(turn)
            return
        if next_step == END:
            if not turn.data.get(BESIDE_DRAFT):
                await turn.delete_draft(flow.name)
            self._finish(turn)
            await menu.show(turn, after_flow=True, finished=flow.name)
            return
        if turn.convo.flow != flow.name:  # the step started another flow
            return
        if next_step != turn.convo.step:  # a step asked again is not a step back
            turn.convo.history.append(turn.convo.step or "")
            _follow_forward(turn.convo, next_step)
        await self._go(turn, flow, next_step)

    async def _go(self, turn: Turn, flow: Flow, step_name: str) -> None:
        turn.convo.step = step_name
        await flow.steps[step_name].ask(turn)

    def _finish(self, turn: Turn) -> None:
        turn.convo.flow = turn.convo.step = None
        turn.convo.data, turn.convo.history = {}, []

    async def _reask(self, turn: Turn) -> None:
        flow = FLOWS.get(turn.convo.flow or "")
        if flow and turn.convo.step in flow.steps:
            await flow.steps[turn.convo.step].ask(turn)
        elif turn.person is None:
            turn.say("join.how_to_join")
        else:
            await menu.show(turn)

    # --- words that work at every step ----------------------------------------------

    async def _navigate(self, turn: Turn, nav: str) -> None:
        convo = turn.convo
        flow = FLOWS.get(convo.flow or "")
        if nav == "help":
            step = flow.steps.get(convo.step or "") if flow else None
            turn.say(step.help_key if step and step.help_key else "help.general")
            await self._reask(turn)
        elif nav == "cancel":
            if flow:
                if not convo.data.get(BESIDE_DRAFT):
                    await turn.delete_draft(flow.name)
                self._finish(turn)
                turn.say("nav.cancelled")
            await menu.show(turn) if turn.person else turn.say("join.how_to_join")
        elif nav == "back":
            if flow and convo.history:
                convo.data.pop("_return_to", None)
                convo.data.setdefault("_forward", []).append(convo.step)
                await self._go(turn, flow, convo.history.pop())
            else:
                await self._leave_to_menu(turn)
        elif nav == "keep":  # the earlier answer stands: on to where the person was
            ahead = convo.data.get("_return_to") or (convo.data.get("_forward") or [None])[-1]
            if flow and convo.step and ahead in flow.steps:
                if not convo.data.pop("_return_to", None):
                    convo.data["_forward"].pop()
                convo.history.append(convo.step)
                await self._go(turn, flow, ahead)
            else:
                await self._reask(turn)
        else:  # menu
            await self._leave_to_menu(turn)

    async def _rich_menu_tap(self, turn: Turn, action: str) -> None:
        """A rich-menu tap: a navigation word (menu, help) works as typed; another entry
        sets the open flow aside as a draft (as "menu" does) and opens; the entry already
        open asks its question again. Someone who has not joined is asked for a code."""
        if action in NAV_WORDS:
            await self._navigate(turn, action)
            return
        flow = FLOWS.get(turn.convo.flow or "")
        if flow and action == flow.name and turn.convo.step in flow.steps:
            turn.say("line.richmenu.already_open", flow=turn.t(flow.title_key))
            await self._reask(turn)
            return
        if flow:
            if turn.convo.step and _worth_keeping(turn.convo):
                await self._save_draft(turn)
                turn.say("nav.draft_kept")
            self._finish(turn)
        if turn.person is None:
            await self.start_flow(turn, "join")
        else:
            await self._menu_action(turn, action)

    async def _leave_to_menu(self, turn: Turn) -> None:
        if turn.convo.flow and _worth_keeping(turn.convo):
            await self._save_draft(turn)
            turn.say("nav.draft_kept")
        if turn.convo.flow:
            self._finish(turn)
        if turn.person:
            await menu.show(turn)
        else:
            turn.say("join.how_to_join")

    @staticmethod
    async def _save_draft(turn: Turn) -> None:
        convo = turn.convo
        assert convo.flow and convo.step
        await turn.save_draft(Draft(convo.flow, convo.step, dict(convo.data),
                                    list(convo.history), turn.now))

    async def _start_command(self, turn: Turn, code: str) -> None:
        if turn.convo.flow and _worth_keeping(turn.convo):
            await self._save_draft(turn)
        self._finish(turn)
        if code:
            await self.start_flow(turn, "join", Answer(text=code))
        elif turn.person is None:
            turn.say(_greeting_key(turn.identity.channel))
            await self.start_flow(turn, "join")
        else:
            await menu.show(turn)

    async def _menu_action(self, turn: Turn, action: str) -> None:
        if action.startswith(opening.OPEN_PREFIX):
            await self._open(turn, action)
        elif action.startswith("resume:"):
            await self._resume(turn, action.removeprefix("resume:"))
        elif action.startswith("restart:"):
            await self._restart(turn, action.removeprefix("restart:"))
        elif action in FLOWS:
            await self.start_flow(turn, action)
        else:
            await menu.run_action(turn, action)

    async def _open(self, turn: Turn, action: str) -> None:
        """A notification's button: the item it carries, opened in its flow. A question
        left open for it is kept as a draft, as "menu" keeps it."""
        if turn.convo.flow:
            if flow_data(turn.convo.data) and not turn.convo.data.get(BESIDE_DRAFT):
                await self._save_draft(turn)
                turn.say("nav.draft_kept")
            self._finish(turn)
        opened = await opening.open_item(turn, action)
        if opened is None or opened[0] not in FLOWS:
            self._finish(turn)
            await menu.show(turn)
            return
        name, step = opened
        if step is None:
            await self.start_flow(turn, name)
            return
        data = turn.convo.data
        self._finish(turn)
        turn.convo.flow, turn.convo.data = name, data
        if any(d.flow == name for d in await turn.drafts()):
            data[BESIDE_DRAFT] = True
        await self._go(turn, FLOWS[name], step)

    async def _resume(self, turn: Turn, flow_name: str) -> None:
        draft = next((d for d in await turn.drafts()
                      if d.flow == flow_name), None)
        flow = FLOWS.get(flow_name)
        if draft is None or flow is None or draft.step not in flow.steps:
            turn.say("menu.no_draft")
            await menu.show(turn)
            return
        turn.convo.flow, turn.convo.data, turn.convo.history = flow_name, dict(draft.data), list(
            draft.history)
        turn.say("nav.resumed", flow=turn.t(flow.title_key))
        await self._go(turn, flow, draft.step)

    async def _restart(self, turn: Turn, flow_name: str) -> None:
        """Start afresh, as the person chose over their draft: the draft goes; what they
        sent to start the flow, when that was not a menu button, is used."""
        pending = turn.data.pop(menu.PENDING_OPENING, None)
        if flow_name not in FLOWS:
            await menu.show(turn)
            return
        if any(d.flow == flow_name for d in await turn.drafts()):
            await turn.delete_draft(flow_name)
            turn.say("nav.draft_discarded")
        await self.start_flow(turn, flow_name, _opening_answer(pending), ask_about_draft=False)

    # --- idleness ------------------------------------------------------------------------

    async def _close_idle(self, turn: Turn) -> None:
        flow = FLOWS.get(turn.convo.flow or "")
        if flow and turn.convo.step and _worth_keeping(turn.convo):
            await self._save_draft(turn)
            turn.say("idle.closed_with_draft", flow=turn.t(flow.title_key))
        else:
            turn.say("idle.closed")
        self._finish(turn)

    async def close_idle_conversations(self, batch: int = IDLE_BATCH) -> int:
        """Close, politely, every conversation idle longer than the timeout, keeping drafts;
        `batch` conversations a transaction, so the writer is never held for long."""
        now = self.clock.now()
        closed = 0
        while True:
            async with self.db.transaction() as conn:
                ids = await conversations.idle_since(conn, now - self.settings.idle_timeout,
                                                     batch)
                for identity_id in ids:
                    identity = await people.identity_by_id(conn, identity_id)
                    if identity is None:
                        continue
                    turn = await self._turn(conn, None, now, identity)
                    await self._close_idle(turn)
                    await conversations.save(conn, turn.convo, now)
                    await self._enqueue(turn, priority=outbox.NOTIFICATION,
                                        dedupe=f"idle:{identity_id}:{now.isoformat()}")
            closed += len(ids)
            if ids:
                self._wake()
            if len(ids) < batch:
                return closed
            await asyncio.sleep(0)  # let the people being served go first

    # --- the outbox ------------------------------------------------------------------------

    async def _enqueue(self, turn: Turn, priority: int = outbox.LIVE_REPLY,
                       dedupe: str | None = None, handing_over: bool = False
                       ) -> tuple[set[Chat], list[outbox.Queued]]:
        """Queue the turn's replies and notifications; returns the chats they go to and
        the replies queued, unless the person's chat is notified too (the INSERTs may go
        with the COMMIT: read them after it, `_ready`). `handing_over`: the replies are
        handed to the sender after the COMMIT (their rows leased to it, `reply_lease`)."""
        incoming = turn.incoming
        # What an incoming update queues needs no dedupe key: its claim in the same
        # transaction already makes it once (and a key is an index entry per row).
        base = dedupe
        chats: set[Chat] = set()
        own: Chat = (turn.identity.channel, turn.identity.chat_id)
        lease = self.reply_lease(own[0]) if handing_over and self.reply_lease and \
            turn.replies else None
        replies = [await outbox.queue_later(
            turn.conn, channel=own[0], chat_id=own[1],
            person_id=turn.person.id if turn.person else None, priority=priority,
            payload=reply.to_payload(), now=turn.now,
            reply_token=incoming.reply_token if incoming else None,
            dedupe_key=f"{base}:r{i}" if base else None, lease=lease)
            for i, reply in enumerate(joined(turn.replies))]
        for i, note in enumerate(turn.notifications):
            recipient = await people.person(turn.conn, note.person_id)
            if recipient is None:
                continue
            text = render(recipient.language, note.key, note.params)
            buttons = tuple(Choice(render(recipient.language, label, {}),
                                   f"{MENU_PREFIX}{action}") for label, action in note.actions)
            for identity in await people.identities_of(turn.conn, note.person_id):
                chats.add((identity.channel, identity.chat_id))
                await outbox.queue_later(
                    turn.conn, channel=identity.channel, chat_id=identity.chat_id,
                    person_id=note.person_id, priority=outbox.NOTIFICATION,
                    payload=Reply(text, buttons).to_payload(), now=turn.now,
                    dedupe_key=f"{base}:n{i}:{identity.id}" if base else None)
        for i, (linked, key, params) in enumerate(turn.group_notifications):
            text = render(DEFAULT_LANGUAGE, key, params)
            for group in linked:
                chats.add((group.channel, group.chat_id))
                await outbox.queue_later(
                    turn.conn, channel=group.channel, chat_id=group.chat_id, person_id=None,
                    priority=outbox.NOTIFICATION, payload=Reply(text).to_payload(),
                    now=turn.now,
                    dedupe_key=f"{base}:g{i}:{group.channel}:{group.chat_id}" if base else None)
        if own in chats:  # notified too: the replies are not all the chat has waiting
            replies = []
        if turn.replies:
            chats.add(own)
        return chats, replies

    @staticmethod
    async def _ready(turn: Turn, replies: list[outbox.Queued]) -> Ready:
        """The replies, when they are all their chat has waiting (nothing was queued
        before the first): handed to the sender as they are, without reading them back."""
        if not replies or await replies[0].earlier_waiting():
            return {}
        messages = [m for m in [await r.message() for r in replies] if m is not None]
        return {(turn.identity.channel, turn.identity.chat_id): messages} if messages else {}

    async def open_question(self, channel: str, chat_id: str, after_id: int) -> Reply | None:
        """The question a private chat's conversation is open at, to ask again after a
        notification (outbox row `after_id`) on a channel that shows buttons only on the
        newest message: the last live reply sent there, when it is that question (its
        buttons carry the conversation's question number, or, with none that do, it came
        from the conversation's latest turn). None when nothing is open, or when more
        messages wait for the chat (the question comes after the last of them)."""
        async with self.db.read() as conn:
            if await outbox.pending_after(conn, channel, chat_id, after_id):
                return None
            identity = await people.identity(conn, channel, chat_id)
            if identity is None or identity.chat_id != chat_id:
                return None
            convo = await conversations.load(conn, identity.id)
            if not convo.flow or not convo.step:
                return None
            asked = next((m for m in await outbox.last_live_replies(
                conn, channel, chat_id, REASK_LOOKBACK)
                if m.payload.get("choices") or m.payload.get("expects")), None)
            person = await people.person(conn, identity.person_id) \
                if identity.person_id else None
        if asked is None:
            return None
        question = Reply.from_payload(asked.payload)
        numbered = [c for c in question.choices if c.payload.startswith(STEP_PREFIX)]
        if numbered and not any(c.payload.startswith(f"{STEP_PREFIX}{convo.seq}:")
                                for c in numbered):
            return None
        if not numbered and (convo.updated_at is None or asked.created_at < convo.updated_at):
            return None
        lead = render(person.language if person else DEFAULT_LANGUAGE, "line.reasked", {})
        return replace(question, text=f"{lead}\n\n{question.text}",
                       extra={**question.extra, REASKED: True})


def _greeting_key(channel: str) -> str:
    """The first words to someone who has not joined: the channel's own (LINE has no invite
    links to open) when the catalog has one."""
    key = f"{channel}.greeting"
    return key if key in catalog(DEFAULT_LANGUAGE) else "join.start_without_code"
