"""Web site benchmark (issue 15): every public page on the nationwide synthetic dataset of
bench/summaries.py (~74,600 villages, ~1,000,000 problems; built there if missing).

For each page (the nation, a province, a district, a tambon and a village where the page
has areas): the server time of the first request after a write (a problem reported in the
sampled village: the page cache empty, the summary computed; for the nation and its
learning networks the written province's share computed, the other provinces' kept) and
of --runs requests after it (served under the same data
version), as seen by a loopback HTTP client; the bytes of HTML + CSS + JS the page loads
(map data not counted); the first contentful paint in headless Chromium (Debian's, via
Playwright) with the page cache warm; and, once, the first requests after the server
started (every province's share computed). Targets: p95 <= 200 ms, <= 300 KB, <= 1.5 s.

The dataset is copied first (the copy gets this program's migrations and 5,000 problems
with a location, for the map); the cached file is left as it is.

    python -m bench.web_pages [--runs 20]

Prints a table and writes bench/results/web_pages.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTHAINLP_OFFLINE", "1")
os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")

import aiohttp  # noqa: E402

from bench.summaries import TODAY, data_file, ensure_dataset  # noqa: E402
from bot.web import WebServer  # noqa: E402
from bot.web.site import register  # noqa: E402
from handlers.clock import BANGKOK, FixedClock  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.timestamps import to_db  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "web_pages.json"
TARGET_P95 = 0.200
TARGET_BYTES = 300 * 1024
TARGET_RENDER = 1.5
FIRST_PAINT = """new Promise(done => new PerformanceObserver(list => {
  const paint = list.getEntries().find(e => e.name === "first-contentful-paint");
  if (paint) { done(paint.startTime / 1000); }
}).observe({type: "paint", buffered: true}))"""
ASSET = re.compile(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"')


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


async def prepare(copy: Path) -> None:
    async with Database(copy) as db, db.transaction() as conn:
        await conn.execute(
            "UPDATE problems SET latitude = 13.0 + (id % 700) / 100.0,"
            " longitude = 99.0 + (id % 500) / 100.0 WHERE id % 200 = 0 AND id <= 1000000")


async def sample_codes(db: Database) -> dict[str, str]:
    async with db.read() as conn:
        village = (await conn.execute_fetchall(
            "SELECT code FROM areas WHERE level = 'village' AND code LIKE '3501%'"
            " ORDER BY code LIMIT 1"))[0][0]
    return {"nation": "TH", "province": village[:2], "district": village[:4],
            "tambon": village[:6], "village": village}


def pages(codes: dict[str, str]) -> list[tuple[str, str]]:
    found = [("home", "/"), ("map", "/map"), ("data", "/data")]
    for page in ("status", "impact", "results"):
        for level, code in codes.items():
            found.append((f"{page} {level}", f"/{page}/{code}"))
    found.append(("map province", f"/map/{codes['province']}"))
    found += [("markers nation", "/data/map/TH.json"),
              ("open data nation", "/data/results/TH.json"),
              ("csv nation", "/data/impact/TH/categories.csv")]
    return found


async def fetch(session: aiohttp.ClientSession, url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    async with session.get(url) as response:
        body = await response.read()
        assert response.status == 200, (url, response.status)
    return time.perf_counter() - started, body


async def invalidate(db: Database, n: int, village: str, now: datetime) -> None:
    """A write as the chat makes them: a problem reported in `village` (the sampled one,
    inside every sampled area: each of their pages has its share to compute again). It
    advances the data version (every cached page is computed again) and its province's
    version (that province's share of the nation's pages is computed again)."""
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO problems (village_code, category, description, households, severity,"
            " reporter_id, created_at) VALUES (?, 'water', 'bench', ?, 1,"
            " (SELECT MIN(id) FROM people), ?)", (village, 1 + n % 5, to_db(now)))


async def measure(runs: int) -> dict[str, Any]:
    meta = await ensure_dataset(1, False)
    work = Path(tempfile.mkdtemp(prefix="cercap-web-bench-"))
    copy = work / "bench.db"
    shutil.copy(data_file(1), copy)
    await prepare(copy)
    now = datetime.combine(TODAY, dtime(12, 0), BANGKOK)
    rows: list[dict[str, Any]] = []
    async with Database(copy) as db:
        server = WebServer("127.0.0.1", 0)
        register(server, db, clock=FixedClock(now))
        await server.start()
        origin = f"http://127.0.0.1:{server.bound_port}"
        try:
            codes = await sample_codes(db)
            async with aiohttp.ClientSession() as session:
                started = {}
                for name, path in (("home", "/"), ("status nation", "/status/TH")):
                    started[name] = (await fetch(session, origin + path))[0]
                for n, (name, path) in enumerate(pages(codes)):
                    await invalidate(db, n, codes["village"], now)
                    cold, body = await fetch(session, origin + path)
                    warm = [(await fetch(session, origin + path))[0] for _ in range(runs)]
                    size = len(body)
                    for asset in sorted(set(ASSET.findall(body.decode()))):
                        size += len((await fetch(session, origin + asset))[1])
                    rows.append({"page": name, "path": path, "cold_s": cold,
                                 "warm_p50_s": statistics.median(warm),
                                 "warm_p95_s": p95(warm), "bytes": size})
                for row in rows:  # the page cache warm (at the last write's version)
                    await fetch(session, origin + row["path"])
            await render_times(origin, rows)
        finally:
            await server.stop()
    shutil.rmtree(work, ignore_errors=True)
    return {"dataset": meta, "runs": runs, "today": TODAY.isoformat(), "pages": rows,
            "first_requests_after_start_s": started,
            "targets": {"p95_s": TARGET_P95, "bytes": TARGET_BYTES, "render_s": TARGET_RENDER},
            "measured_at": datetime.now(BANGKOK).isoformat(timespec="seconds")}


async def render_times(origin: str, rows: list[dict[str, Any]]) -> None:
    from playwright.async_api import async_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        print("no /usr/bin/chromium: render times left out (apt-get install -y chromium)")
        return
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for row in rows:
            if row["path"].endswith((".json", ".csv")):
                continue  # data, not a page to paint
            page = await browser.new_page(viewport={"width": 412, "height": 915})
            await page.goto(origin + row["path"], wait_until="load")
            row["first_paint_s"] = await page.evaluate(FIRST_PAINT)
            row["load_s"] = await page.evaluate(
                "performance.getEntriesByType('navigation')[0].loadEventEnd / 1000")
            await page.close()
        await browser.close()


def report(result: dict[str, Any]) -> str:
    lines = [f"{'page':<18} {'cold ms':>8} {'p50 ms':>7} {'p95 ms':>7} {'KB':>6} "
             f"{'paint s':>8} {'load s':>7}"]
    for r in result["pages"]:
        lines.append(f"{r['page']:<18} {r['cold_s'] * 1000:8.0f} {r['warm_p50_s'] * 1000:7.1f}"
                     f" {r['warm_p95_s'] * 1000:7.1f} {r['bytes'] / 1024:6.1f}"
                     f" {r.get('first_paint_s', float('nan')):8.2f}"
                     f" {r.get('load_s', float('nan')):7.2f}")
    worst = max(r["warm_p95_s"] for r in result["pages"])
    worst_cold = max(r["cold_s"] for r in result["pages"])
    size = max(r["bytes"] for r in result["pages"]  # pages: data files are not pages
               if not r["path"].endswith((".json", ".csv")))
    paint = max((r.get("first_paint_s") or 0) for r in result["pages"])
    for name, seconds in result.get("first_requests_after_start_s", {}).items():
        lines.append(f"first request after the start, {name}: {seconds * 1000:.0f} ms")
    lines.append(f"worst: p95 {worst * 1000:.1f} ms (target 200), cold {worst_cold * 1000:.0f}"
                 f" ms, {size / 1024:.1f} KB (target 300), first paint {paint:.2f} s"
                 " (target 1.5)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    result = asyncio.run(measure(args.runs))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(report(result))


if __name__ == "__main__":
    main()
