"""A person's copy of their data (PDPA s.30/s.31), made when the message asking for it
is sent: the "my data" flow queues one message per format (handlers/flows/my_data.py,
`Reply.extra["my_data"]`), and the outbox sender's `prepare` turns each into a file in
the media folder's `exports/` (deleted by housekeeping after a day), sent as any export
is: a document on Telegram, a signed link on LINE, a path on the console.

JSON: {"format": "cercap-my-data", "version": 1, "person_id", "generated_at",
"notice_version", "tables": {table: [row, ...]}}, columns as the database names them;
the workbook has the same tables, one sheet each, after a sheet saying what it is."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from bot.summary_renderer import EXPORT_FOLDER
from handlers.clock import BANGKOK, Clock, SystemClock
from handlers.flows.my_data import EXPORT
from handlers.messages import Reply
from handlers.privacy import NOTICE_VERSION
from locales import t
from storage import privacy
from storage.db import Database
from storage.outbox import OutboxMessage

Prepare = Callable[[OutboxMessage], Awaitable[OutboxMessage]]
FILE_PREFIX = "my-data-"  # my-data-<person id>-<stamp>.<json|xlsx>; erasure deletes them
MAX_SHEET_NAME = 31


def export_name(person_id: int, stamp: str, extension: str) -> str:
    return f"{FILE_PREFIX}{person_id}-{stamp}.{extension}"


def as_json(person_id: int, tables: dict[str, list[dict[str, Any]]], at: datetime) -> bytes:
    document = {"format": "cercap-my-data", "version": 1, "person_id": person_id,
                "generated_at": at.isoformat(), "notice_version": NOTICE_VERSION,
                "tables": tables}
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def as_workbook(person_id: int, tables: dict[str, list[dict[str, Any]]], at: datetime,
                language: str) -> bytes:
    book = Workbook()
    about = book.active
    about.title = t(language, "privacy.label.about_sheet")[:MAX_SHEET_NAME]
    about.append((t(language, "privacy.label.about", person=person_id,
                    at=at.astimezone(BANGKOK).strftime("%Y-%m-%d %H:%M")),))
    about.column_dimensions["A"].width = 120
    bold = Font(bold=True)
    for name, rows in tables.items():
        sheet = book.create_sheet(re.sub(r"[\[\]:*?/\\]", " ", name)[:MAX_SHEET_NAME])
        headers = list(dict.fromkeys(k for row in rows for k in row))
        sheet.append(headers)
        for column in range(1, len(headers) + 1):
            sheet.cell(1, column).font = bold
        for row in rows:
            sheet.append([_cell(row.get(h)) for h in headers])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


class MyDataExporter:
    def __init__(self, db: Database, media_dir: Path, clock: Clock | None = None) -> None:
        self.db = db
        self.media_dir = media_dir
        self.clock = clock or SystemClock()

    async def prepare(self, message: OutboxMessage) -> OutboxMessage:
        spec = message.payload.get("extra", {}).get(EXPORT)
        if not spec:
            return message
        reply = await self.render(int(spec["person_id"]), spec["format"],
                                  spec.get("language", "th"))
        return replace(message, payload=reply.to_payload())

    async def render(self, person_id: int, fmt: str, language: str) -> Reply:
        async with self.db.read() as conn:
            tables = await privacy.person_data(conn, person_id)
        now = self.clock.now()
        if fmt == "xlsx":
            data = await asyncio.to_thread(as_workbook, person_id, tables, now, language)
        else:
            fmt, data = "json", as_json(person_id, tables, now)
        name = export_name(person_id, now.strftime("%Y%m%d%H%M%S%f"), fmt)
        path = await asyncio.to_thread(self._write, name, data)
        return Reply(t(language, "privacy.file_ready", name=name), file=path,
                     extra={"language": language})

    def _write(self, name: str, data: bytes) -> str:
        relative = Path(EXPORT_FOLDER) / name
        target = self.media_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return relative.as_posix()


def chained(*steps: Prepare) -> Prepare:
    """One `prepare` for the outbox sender doing each step in turn."""
    async def prepare(message: OutboxMessage) -> OutboxMessage:
        for step in steps:
            message = await step(message)
        return message

    return prepare


def exports_of(media_dir: Path, person_id: int) -> list[Path]:
    folder = media_dir / EXPORT_FOLDER
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"{FILE_PREFIX}{person_id}-*"))
