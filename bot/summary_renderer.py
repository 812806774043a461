"""Turns a summary request queued by the flow into what is sent: the section's text, a
chart (PNG) or an export (xlsx, CSV) in the media folder. Runs in the outbox sender,
on the read-only connection, outside any write transaction."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from handlers.summaries import compute_summary

from handlers.clock import Clock, SystemClock, local_date
from handlers.messages import Reply
from handlers.summary_model import Period, Summary
from handlers.summary_text import section_text
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
        self._cache: dict[tuple[str, str, str, date], Summary] = {}

    async def prepare(self, message: OutboxMessage) -> OutboxMessage:
        spec = message.payload.get("extra", {}).get("render")
        if not spec:
            return message
        reply = await self.render(spec)
        return replace(message, payload=reply.to_payload())

    async def summary(self, spec: dict[str, Any]) -> Summary:
        today = local_date(self.clock.now())
        key = (spec["area"], spec["start"], spec["end"], today)
        if key not in self._cache:
            period = Period(date.fromisoformat(spec["start"]), date.fromisoformat(spec["end"]),
                            spec.get("kind", "custom"))
            conn = await self.db.reader()
            self._cache[key] = await compute_summary(conn, spec["area"], period, today)
            while len(self._cache) > CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
        return self._cache[key]

    async def render(self, spec: dict[str, Any]) -> Reply:
        summary = await self.summary(spec)
        language, section, fmt = spec["language"], spec["section"], spec["format"]
        if fmt == "text":
            return Reply(section_text(summary, section, language), extra={"language": language})
        if fmt == "chart":
            from bot.charts import section_chart

            png = await asyncio.to_thread(section_chart, summary, section, language)
            path = self._write(summary, section, "png", png)
            return Reply(section_text(summary, section, language), image=path,
                         extra={"language": language})
        from bot.export import csv_files, export_filename, workbook

        if fmt == "xlsx":
            data = await asyncio.to_thread(workbook, summary, language)
            name = export_filename(summary, "xlsx")
            path = self._write_named(name, data)
        else:
            files = await asyncio.to_thread(csv_files, summary, language)
            name = export_filename(summary, "csv")
            path = self._write_named(name, join_csv(files))
        return Reply(t(language, "summary.file_ready", name=Path(path).name), file=path,
                     extra={"language": language})

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


def join_csv(files: dict[str, bytes]) -> bytes:
    """One CSV file from the per-section CSVs (each starts with the BOM: keep only the first)."""
    bom = b"\xef\xbb\xbf"
    parts = [data.removeprefix(bom) for data in files.values()]
    return bom + b"\r\n".join(parts)
