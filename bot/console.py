"""The console channel: a chat in the terminal, with the demo people to switch between.

It is a channel like any other: lines become `Incoming` updates for the same engine,
and replies come back through the same outbox. Choices are shown numbered; typing
the number or the label works. At a question answered with a number (households, an
amount) a typed number is that number: its buttons are shown by their labels only.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from bot.demo import CONSOLE, GUEST_KEY, console_user_id
from bot.outbox_sender import OutboxSender, SendOutcome, Sent
from bot.scheduler import Scheduler
from handlers.engine import Engine
from handlers.messages import Incoming, Location, Reply
from handlers.thai_input import normalize_text, to_arabic_digits
from locales import t
from storage import outbox, people
from storage.db import Database
from storage.outbox import OutboxMessage

NUMBER = "number"  # a question answered with a number (Reply.expects)


@dataclass(frozen=True)
class Persona:
    user_id: str
    name: str
    role: str


class ConsoleSender:
    """Prints outbox messages for the chat on screen; remembers its last buttons."""

    channel = CONSOLE

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self.last_choices: dict[str, list[str]] = {}
        self.last_expects: dict[str, str | None] = {}

    async def send(self, message: OutboxMessage) -> SendOutcome:
        reply = Reply.from_payload(message.payload)
        lines = [f"🤖 {line}" if i == 0 else f"   {line}"
                 for i, line in enumerate(reply.text.splitlines() or [""])]
        if reply.expects == NUMBER and reply.choices:
            # A number is typed as the number, so these buttons are not numbered: their
            # labels are typed.
            lines.append("   " + "  ".join(f"[{choice.label}]" for choice in reply.choices))
        else:
            lines += [f"   [{n}] {choice.label}" for n, choice in enumerate(reply.choices, 1)]
        if reply.image:
            lines.append(f"   🖼  {reply.image}")
        if reply.file:
            lines.append(f"   📎 {reply.file}")
        self.write("\n".join(lines))
        self.last_choices[message.chat_id] = [c.payload for c in reply.choices]
        self.last_expects[message.chat_id] = reply.expects
        return Sent()


class ConsoleChat:
    def __init__(self, db: Database, engine: Engine, sender: OutboxSender,
                 screen: ConsoleSender, scheduler: Scheduler | None = None) -> None:
        self.db = db
        self.scheduler = scheduler
        self.engine = engine
        self.sender = sender
        self.screen = screen
        self.personas: list[Persona] = []
        self.active: Persona | None = None
        self._hinted: dict[str, int] = {}  # waiting messages already pointed out

    def say(self, key: str, **params: object) -> None:
        self.screen.write(t("th", key, **params))

    async def load_personas(self) -> list[Persona]:
        async with self.db.read() as conn, conn.execute(
            "SELECT MIN(i.platform_user_id), MIN(p.display_name), MIN(g.role) FROM identities i"
            " LEFT JOIN people p ON p.id = i.person_id"
            " LEFT JOIN role_grants g ON g.person_id = p.id"
            " WHERE i.channel = ? GROUP BY i.id ORDER BY i.id", (CONSOLE,)
        ) as cur:
            rows = await cur.fetchall()
        self.personas = [Persona(r[0], r[1] or t("th", "console.guest"), r[2] or "")
                         for r in rows if r[0] != console_user_id(GUEST_KEY)]
        self.personas.append(Persona(console_user_id(GUEST_KEY), t("th", "console.guest"), ""))
        return self.personas

    def show_people(self) -> None:
        self.say("console.people_title")
        for n, persona in enumerate(self.personas, 1):
            role = t("th", f"role.{persona.role}") if persona.role else t("th", "console.no_role")
            mark = "👉" if persona == self.active else "  "
            self.screen.write(f" {mark} [{n}] {persona.name} — {role}")

    async def switch(self, which: str) -> None:
        which = to_arabic_digits(which.strip())
        chosen = None
        if which.isdigit() and 1 <= int(which) <= len(self.personas):
            chosen = self.personas[int(which) - 1]
        else:
            chosen = next((p for p in self.personas if p.user_id == console_user_id(which)), None)
        if chosen is None:
            self.say("console.unknown_person")
            self.show_people()
            return
        self.active = chosen
        self.say("console.now_you_are", name=chosen.name)
        if not await self.sender.deliver_due(CONSOLE, chosen.user_id):
            self.say("console.type_anything")

    async def type(self, line: str) -> bool:
        """Handle one typed line; False when the person wants to quit."""
        if self.active is None:
            await self.load_personas()
            self.active = self.personas[0]
        text = normalize_text(line)
        command, _, rest = text.partition(" ")
        if command in ("/quit", "/exit"):
            return False
        if command in ("/people", "/who"):
            self.show_people()
            return True
        if command == "/as":
            await self.switch(rest)
            return True
        if self.scheduler is not None:  # reminders fall due while people type
            await self.scheduler.run_due()
        await self.engine.handle(self._incoming(text, command, rest))
        await self.sender.deliver_due(CONSOLE, self.active.user_id)
        await self._hint_other_chats()
        return True

    def _incoming(self, text: str, command: str, rest: str) -> Incoming:
        assert self.active is not None
        base = {"channel": CONSOLE, "user_id": self.active.user_id,
                "chat_id": self.active.user_id, "update_id": uuid.uuid4().hex}
        choices = self.screen.last_choices.get(self.active.user_id) or []
        number = to_arabic_digits(text)
        typed_as_number = self.screen.last_expects.get(self.active.user_id) == NUMBER
        if number.isdigit() and 1 <= int(number) <= len(choices) and not typed_as_number:
            return Incoming(**base, payload=choices[int(number) - 1])
        if command == "/photo" and rest:
            return Incoming(**base, photo=rest)
        if command == "/location":
            parts = to_arabic_digits(rest).replace(",", " ").split()
            try:
                return Incoming(**base, location=Location(float(parts[0]), float(parts[1])))
            except (ValueError, IndexError):
                return Incoming(**base, text=rest)
        if command == "/sticker":
            return Incoming(**base, unsupported="sticker")
        return Incoming(**base, text=text)

    async def _hint_other_chats(self) -> None:
        async with self.db.read() as conn:
            pending = await outbox.pending_by_chat(conn, CONSOLE)
        for n, persona in enumerate(self.personas, 1):
            waiting = pending.get(persona.user_id, 0)
            if persona != self.active and waiting > self._hinted.get(persona.user_id, 0):
                self.say("console.new_messages_for", count=waiting, name=persona.name, number=n)
            self._hinted[persona.user_id] = waiting

    async def start(self) -> None:
        await self.load_personas()
        self.active = self.personas[0]
        self.say("console.welcome")
        self.show_people()
        async with self.db.transaction() as conn:
            await people.ensure_identity(conn, CONSOLE, self.active.user_id,
                                         self.active.user_id, self.engine.clock.now())
        await self.type(t("th", "nav.words.menu").split("|")[0])


async def run_console(db: Database, engine: Engine, sender: OutboxSender,
                      screen: ConsoleSender, scheduler: Scheduler | None = None) -> None:
    chat = ConsoleChat(db, engine, sender, screen, scheduler)
    await chat.start()
    while True:
        try:
            line = await asyncio.to_thread(input, "> ")
        except EOFError:
            break
        if not await chat.type(line):
            break
    sys.stdout.flush()
