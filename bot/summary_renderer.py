"""Turns a summary request queued by the flow into what is sent: the section's text, a
chart (PNG) or an export (xlsx, CSV) in the media folder. Runs in the outbox sender,
on the read-only connection, outside any write transaction.

A summary is always current: it reflects every change committed before it was asked for.
Computed summaries are kept only under the reader connection's `PRAGMA data_version`, which
changes whenever another connection (the bot's writer, another process) commits, so a text,
its chart and its export asked for one after another share one computation, and the first
request after any write computes afresh."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from handlers.clock import Clock, SystemClock, local_date
from handlers.messages import Reply
from handlers.summaries import compute_summary
from handlers.summary_model import Period, Summary
from handlers.summary_text import chart_caption, section_text
from locales import t
from storage.db import Database
from storage.outbox import OutboxMessage

log = logging.getLogger(__name__)

EXPORT_FOLDER = "exports"
CACHE_SIZE = 32


class SummaryRenderer:
    def __init__(self, db: Database, media_dir: Path, clock: Clock | None = None) -> None:
        self.db = db
        self.media_dir = media_dir
        self.clock = clock or SystemClock()
        self._cache: dict[tuple[str, str, str, date, int], Summary] = {}
        self._cache_conn: aiosqlite.Connection | None = None  # the connection versions are of

    async def prepare(self, message: OutboxMessage) -> OutboxMessage:
        spec = message.payload.get("extra", {}).get("render")
        if not spec:
            return message
        reply = await self.render(spec)
        return replace(message, payload=reply.to_payload())

    async def summary(self, spec: dict[str, Any]) -> Summary:
        today = local_date(self.clock.now())
        conn = await self.db.reader()
        if conn is not self._cache_conn:  # data_version counts per connection
            self._cache.clear()
            self._cache_conn = conn
        # Read before computing: a commit while computing makes the entry newer than its
        # key, never older, and the next request sees the new version and computes again.
        version = await data_version(conn)
        key = (spec["area"], spec["start"], spec["end"], today, version)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        period = Period(date.fromisoformat(spec["start"]), date.fromisoformat(spec["end"]),
                        spec.get("kind", "custom"))
        summary = await compute_summary(conn, spec["area"], period, today)
        for stale in [k for k in self._cache if k[4] != version]:
            del self._cache[stale]  # no later request can hit them
        self._cache[key] = summary
        while len(self._cache) > CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))
        return summary

    async def render(self, spec: dict[str, Any]) -> Reply:
        if spec.get("kind") == "invite_sheet":  # the onboarding sheet's PDF (issue 16)
            from bot.invite_sheet import render_reply

            return await render_reply(spec, self._write_named)
        summary = await self.summary(spec)
        language, section, fmt = spec["language"], spec["section"], spec["format"]
        if fmt == "text":
            return Reply(section_text(summary, section, language), extra={"language": language})
        if fmt == "chart":
            from bot.charts import section_chart

            png = await asyncio.to_thread(section_chart, summary, section, language)
            path = await asyncio.to_thread(self._write, summary, section, "png", png)
            return Reply(chart_caption(summary, section, language), image=path,
                         extra={"language": language})
        from bot.export import csv_files, export_filename, workbook

        if fmt == "xlsx":
            data = await asyncio.to_thread(workbook, summary, language)
            name = export_filename(summary, "xlsx")
            path = await asyncio.to_thread(self._write_named, name, data)
        else:
            files = await asyncio.to_thread(csv_files, summary, language)
            name = export_filename(summary, "csv")
            path = await asyncio.to_thread(self._write_named, name, join_csv(files))
        return Reply(t(language, "summary.file_ready", name=Path(path).name), file=path,
                     extra={"language": language})

    # The writes run in a worker thread (callers above): a workbook must not stall the loop.
    def _write(self, summary: Summary, section: str, extension: str, data: bytes) -> str:
        stamp = datetime.now().strftime("%Y%m%d%H%M%S%f")
        name = f"{summary.area_code}-{section}-{summary.period.start}-{summary.period.end}-{stamp}"
        return self._write_named(f"{name}.{extension}", data)

    def _write_named(self, name: str, data: bytes) -> str:
        relative = Path(EXPORT_FOLDER) / name
        target = self.media_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return relative.as_posix()


async def data_version(conn: aiosqlite.Connection) -> int:
    """SQLite's counter of commits made by other connections since this one opened."""
    async with conn.execute("PRAGMA data_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


def join_csv(files: dict[str, bytes]) -> bytes:
    """One CSV file from the per-section CSVs (each starts with the BOM: keep only the first)."""
    bom = b"\xef\xbb\xbf"
    parts = [data.removeprefix(bom) for data in files.values()]
    return bom + b"\r\n".join(parts)
