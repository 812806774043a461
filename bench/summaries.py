"""Summary benchmark: how long `compute_summary` takes for a tambon, a district, a province,
a learning network and the nation, on a synthetic nationwide dataset.

The dataset (generated once, cached under bench/data/, `--regenerate` to rebuild): every
tambon of Thailand with 5-15 villages each (~74,000 villages), ~1,000,000 problems,
~150,000 forums, plans with ~500,000 items, ~2,000,000 progress updates and ~200,000
support requests, spread over the 12 months up to TODAY with a rising trend, uneven
village activity (some villages dormant, some gone quiet), realistic category, status
and approach mixes.

Levels are timed through storage.db.Database (aiosqlite), as the bot runs them: for each
level several areas (the nation once), one warm-up call and --runs timed calls each;
median and max over all timed calls. Targets: tambon 50 ms, district 200 ms, nation 2 s.

Scaling check: a second file holds 10x the rows for every village EXCEPT those of the
timed tambons, whose rows are identical in both files (same random stream; their
summaries are checked equal). A tambon summary that seeks its own rows costs the same in
both; one that scans would grow ~10x. The verdict (<= 1.2x) uses the time spent in SQLite
and Python, with the queries run in the calling thread (DirectConnection), both files
interleaved in random order, medians over 40 rounds; SQLite's instruction count and the
time through aiosqlite are reported beside it.

    python -m bench.summaries [--regenerate] [--no-scaling] [--runs 5] [--postgres]

Prints a table and writes bench/results/summaries.json.

--postgres: the same levels on PostgreSQL: the cached 1x file is copied into a fresh
database of a throwaway server (tests/pg_server.py) with `cercap-bot db copy`'s code
(storage/copy.py, which ANALYZEs what it copied; its time and rows/s are reported), and
timed through the PostgreSQL engine as the bot runs them
(no scaling check); writes bench/results/summaries-postgres.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYTHAINLP_OFFLINE", "1")
os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")

from handlers.clock import BANGKOK  # noqa: E402
from handlers.summaries import compute_summary  # noqa: E402
from handlers.summary_model import Period  # noqa: E402
from storage.db import Database  # noqa: E402

GENERATOR_VERSION = 1
DATA_DIR = ROOT / "bench" / "data"
RESULTS_DIR = ROOT / "bench" / "results"
INDEX_FILE = ROOT / "storage" / "migrations" / "0006_summary_indexes.sql"

TODAY = date(2025, 6, 30)
PERIOD = Period(date(2024, 7, 1), TODAY, "custom")  # "the last 12 months"
DAY = 86_400
EPOCH = datetime(2024, 7, 1, tzinfo=BANGKOK)  # day 0, 00:00 Bangkok
EPOCH_UTC = np.datetime64(EPOCH.astimezone(UTC).replace(tzinfo=None), "s")
TODAY_DAY = (TODAY - PERIOD.start).days  # 364
NOW = (TODAY_DAY + 1) * DAY - 1  # the last second of TODAY, in seconds from EPOCH

TARGETS = {"problems": 1_000_000, "forums": 150_000, "items": 500_000,
           "progress": 2_000_000, "requests": 200_000}
SEED = 20250630
BENCH_TAMBONS = 6
SCALE = 10

CATEGORIES = ("jobs", "debt", "farm_prices", "water", "health", "education", "drugs_crime",
              "vulnerable", "food", "other")
CATEGORY_P = (0.20, 0.17, 0.15, 0.12, 0.09, 0.06, 0.05, 0.07, 0.05, 0.04)
APPROACHES = ("self_reliance", "cooperation", "external_support")
APPROACH_P = (0.45, 0.30, 0.25)
STATUSES = ("not_started", "in_progress", "done", "stalled", "withdrawn")
STATUS_P_CLOSED = (0.05, 0.12, 0.65, 0.10, 0.08)
STATUS_P_OPEN = (0.20, 0.40, 0.22, 0.12, 0.06)
OUTCOMES = ("yes", "partly", "no")
OUTCOME_P = (0.55, 0.30, 0.15)
REQUEST_STATUSES = ("submitted", "forwarded", "funded", "returned")
REQUEST_P = (0.18, 0.10, 0.52, 0.20)
# Plans: (first day, last day) relative to EPOCH, closed?, share of villages that have one.
PLAN_KINDS = ((-182, -1, True, 0.30), (0, 183, True, 0.85), (184, 548, False, 0.90))
PROGRESS_EXTRA = 3.9  # progress updates per started item beyond the first
CHUNK = 2_000  # villages generated and inserted at a time


# --- the dataset --------------------------------------------------------------------------------

@dataclass
class Villages:
    codes: list[str]
    tambon_of: list[str]
    weight: np.ndarray  # activity; 0 = dormant, never submitted anything
    quiet_at: np.ndarray  # seconds from EPOCH after which the village went quiet (NOW if not)
    fixed: np.ndarray  # rows identical in every scale (the benchmarked tambons' villages)


def iso_instants(seconds: np.ndarray) -> list[str]:
    text = np.datetime_as_string(EPOCH_UTC + seconds.astype("timedelta64[s]"), unit="us")
    return [f"{s}+00:00" for s in text.tolist()]


def iso_days(days: np.ndarray) -> list[str]:
    base = np.datetime64(PERIOD.start.isoformat(), "D")
    return np.datetime_as_string(base + days.astype("timedelta64[D]"), unit="D").tolist()


def plan_villages(conn: sqlite3.Connection, rng: np.random.Generator) -> Villages:
    tambons = [r[0] for r in conn.execute(
        "SELECT code FROM areas WHERE level = 'tambon' ORDER BY code")]
    counts = rng.integers(5, 16, len(tambons))
    codes: list[str] = []
    tambon_of: list[str] = []
    for tambon, n in zip(tambons, counts.tolist(), strict=True):
        codes += [f"{tambon}{no:02d}" for no in range(1, n + 1)]
        tambon_of += [tambon] * n
    size = len(codes)
    weight = rng.lognormal(0.0, 0.6, size)
    weight[rng.random(size) < 0.03] = 0.0
    quiet_at = np.full(size, NOW, dtype=np.int64)
    quiet = rng.random(size) < 0.05
    quiet_at[quiet] = NOW - rng.integers(35 * DAY, 150 * DAY, int(quiet.sum()))
    # Benchmarked tambons: spread over the country, each with some activity.
    picks = rng.choice(len(tambons), BENCH_TAMBONS * 4, replace=False)
    chosen: list[str] = []
    for i in picks.tolist():
        if tambons[i][:2] not in {c[:2] for c in chosen}:
            chosen.append(tambons[i])
        if len(chosen) == BENCH_TAMBONS:
            break
    fixed = np.array([t in chosen for t in tambon_of])
    return Villages(codes, tambon_of, weight, quiet_at, fixed)


@dataclass
class Rates:
    problems: float
    forums: float
    items: float
    requests: float


def rates(v: Villages) -> Rates:
    """Per unit of village weight, so that the 1x totals land near TARGETS."""
    total = v.weight.sum()
    started = v.quiet_at >= 184 * DAY
    plans = v.weight * (PLAN_KINDS[0][3] + PLAN_KINDS[1][3] + PLAN_KINDS[2][3] * started)
    external_items = TARGETS["items"] * APPROACH_P[2] * 0.9
    return Rates(TARGETS["problems"] / total, TARGETS["forums"] / total,
                 TARGETS["items"] / plans.sum(), TARGETS["requests"] / external_items)


class Ids:
    def __init__(self) -> None:
        self.next = {"plans": 1, "items": 1}

    def take(self, table: str, n: int) -> np.ndarray:
        start = self.next[table]
        self.next[table] = start + n
        return np.arange(start, start + n, dtype=np.int64)


def problem_rows(rng: np.random.Generator, v: Villages, idx: np.ndarray, mult: int,
                 r: Rates) -> Iterator[tuple[Any, ...]]:
    n = rng.poisson(r.problems * v.weight[idx] * mult)
    vi = np.repeat(idx, n)
    size = len(vi)
    at = (v.quiet_at[vi] * rng.random(size) ** 0.8).astype(np.int64)  # more of late
    category = rng.choice(len(CATEGORIES), size, p=CATEGORY_P)
    households = np.minimum(1 + rng.geometric(1 / 15, size), 400)
    severity = rng.integers(1, 5, size)
    codes = [v.codes[i] for i in vi.tolist()]
    return zip(codes, [CATEGORIES[c] for c in category.tolist()], households.tolist(),
               severity.tolist(), iso_instants(at), strict=True)


def forum_rows(rng: np.random.Generator, v: Villages, idx: np.ndarray, mult: int,
               r: Rates) -> Iterator[tuple[Any, ...]]:
    n = rng.poisson(r.forums * v.weight[idx] * mult)
    vi = np.repeat(idx, n)
    size = len(vi)
    held = (v.quiet_at[vi] // DAY * rng.random(size)).astype(np.int64)
    participants = 8 + rng.poisson(30, size)
    created = np.minimum(held * DAY + 12 * 3600 + rng.integers(0, 2 * DAY, size), NOW)
    codes = [v.codes[i] for i in vi.tolist()]
    return zip(codes, iso_days(held), participants.tolist(), iso_instants(created),
               strict=True)


@dataclass
class Chunk:
    plans: list[tuple[Any, ...]]
    items: list[tuple[Any, ...]]
    progress: list[tuple[Any, ...]]
    requests: list[tuple[Any, ...]]


def plan_rows(rng: np.random.Generator, v: Villages, idx: np.ndarray, mult: int, r: Rates,
              ids: Ids) -> Chunk:
    active = idx[v.weight[idx] > 0]
    plan_v, plan_first, plan_last, plan_closed = [], [], [], []
    for first, last, closed, share in PLAN_KINDS:
        has = active[(rng.random(len(active)) < share) & (v.quiet_at[active] >= first * DAY)]
        plan_v.append(has)
        plan_first.append(np.full(len(has), first))
        plan_last.append(np.full(len(has), last))
        plan_closed.append(np.full(len(has), closed))
    pv, pfirst = np.concatenate(plan_v), np.concatenate(plan_first)
    plast, pclosed = np.concatenate(plan_last), np.concatenate(plan_closed)
    plan_ids = ids.take("plans", len(pv))
    plan_created = iso_instants(pfirst * DAY - rng.integers(DAY, 10 * DAY, len(pv)))
    plans = list(zip(
        plan_ids.tolist(), [v.codes[i] for i in pv.tolist()], iso_days(pfirst), iso_days(plast),
        ["closed" if c else "open" for c in pclosed.tolist()], plan_created, strict=True))

    n_items = rng.poisson(r.items * v.weight[pv] * mult)
    ip = np.repeat(np.arange(len(pv)), n_items)
    size = len(ip)
    item_ids = ids.take("items", size)
    iv = pv[ip]
    start = pfirst[ip] + rng.integers(0, 120, size)
    end = np.minimum(start + rng.integers(14, 150, size), plast[ip])
    start = np.minimum(start, end)
    approach = rng.choice(3, size, p=APPROACH_P)
    status = np.where(pclosed[ip], rng.choice(5, size, p=STATUS_P_CLOSED),
                      rng.choice(5, size, p=STATUS_P_OPEN))
    quiet_day = v.quiet_at[iv] // DAY
    unstarted = (start > TODAY_DAY) | (start > quiet_day)
    status[unstarted & (status != 4)] = 0
    percent = np.select([status == 0, status == 2, status == 1, status == 3],
                        [0, 100, rng.integers(10, 91, size), rng.integers(0, 71, size)],
                        rng.integers(0, 51, size))
    budget = np.select([approach == 2, approach == 1],
                       [rng.integers(100, 3000, size) * 100, rng.integers(0, 500, size) * 100],
                       rng.integers(0, 100, size) * 100)
    own_money = (budget * rng.random(size) * 0.3).astype(np.int64) // 100 * 100
    created = pfirst[ip] * DAY - rng.integers(0, 5 * DAY, size)

    # Progress: 1 + Poisson for started items, a few for withdrawn ones, none if not started.
    k = np.where(np.isin(status, (1, 2, 3)), 1 + rng.poisson(PROGRESS_EXTRA, size),
                 np.where(status == 4, rng.poisson(0.5, size), 0))
    k[unstarted] = 0
    window_start = start * DAY
    window_end = np.minimum(np.minimum((end + 30) * DAY, NOW), v.quiet_at[iv])
    window_end = np.maximum(window_end, window_start + 3600)
    window_end = np.minimum(window_end, NOW)
    window_start = np.minimum(window_start, window_end - 60)
    pi = np.repeat(np.arange(size), k)
    at = window_start[pi] + (rng.random(len(pi)) * (window_end - window_start)[pi]).astype(
        np.int64)
    order = np.lexsort((at, pi))
    pi, at = pi[order], at[order]
    last_of = np.cumsum(k) - 1
    is_last = np.zeros(len(pi), dtype=bool)
    is_last[last_of[k > 0]] = True
    p_status = np.where(is_last, status[pi], 1)
    p_status[(p_status == 4)] = 1
    p_percent = np.where(is_last, percent[pi], (percent[pi] * rng.random(len(pi))).astype(int))
    last_at = np.full(size, -1, dtype=np.int64)
    last_at[k > 0] = at[last_of[k > 0]]

    done = (status == 2) & (k > 0)
    confirmed = done & (rng.random(size) < 0.8)
    confirmed_at = np.minimum(last_at + rng.integers(0, 7 * DAY, size), NOW)
    solved = rng.choice(3, size, p=OUTCOME_P)
    helped = 1 + rng.geometric(1 / 10, size)
    updated = np.maximum(created, np.where(confirmed, confirmed_at, last_at))

    codes = [v.codes[i] for i in iv.tolist()]
    conf_text = iso_instants(confirmed_at)
    items = list(zip(
        item_ids.tolist(), plan_ids[ip].tolist(), codes, [APPROACHES[a] for a in approach.tolist()],
        budget.tolist(), own_money.tolist(), iso_days(start), iso_days(end),
        [STATUSES[s] for s in status.tolist()], percent.tolist(),
        [OUTCOMES[s] if c else None for s, c in zip(solved.tolist(), confirmed.tolist(),
                                                   strict=True)],
        [h if c else None for h, c in zip(helped.tolist(), confirmed.tolist(), strict=True)],
        [t if c else None for t, c in zip(conf_text, confirmed.tolist(), strict=True)],
        iso_instants(created), iso_instants(updated), strict=True))
    progress = list(zip(
        item_ids[pi].tolist(), [codes[i] for i in pi.tolist()],
        [STATUSES[s] for s in p_status.tolist()], p_percent.tolist(), iso_instants(at),
        strict=True))
    return Chunk(plans, items, progress,
                 request_rows(rng, r, item_ids, codes, approach, status, unstarted, budget,
                              window_start, window_end))


def request_rows(rng: np.random.Generator, r: Rates, item_ids: np.ndarray, codes: list[str],
                 approach: np.ndarray, status: np.ndarray, unstarted: np.ndarray,
                 budget: np.ndarray, window_start: np.ndarray, window_end: np.ndarray
                 ) -> list[tuple[Any, ...]]:
    asks = (approach == 2) & (status != 4) & ~unstarted
    n = np.where(asks, rng.poisson(r.requests, len(item_ids)), 0)
    ri = np.repeat(np.arange(len(item_ids)), n)
    size = len(ri)
    created = np.minimum(window_start[ri] - 20 * DAY
                         + (rng.random(size) * 80 * DAY).astype(np.int64), window_end[ri])
    req_status = rng.choice(4, size, p=REQUEST_P)
    amount = np.maximum(100, (budget[ri] * rng.uniform(0.3, 1.0, size)).astype(np.int64)
                        // 100 * 100)
    granted = (amount * rng.uniform(0.5, 1.0, size)).astype(np.int64) // 100 * 100
    to_district = rng.random(size) < np.select([req_status == 2, req_status == 3], [0.2, 0.15],
                                               0.0)
    level = np.where((req_status == 1) | to_district, "district", "tambon")
    decided = np.minimum(created + rng.integers(DAY, 20 * DAY, size), NOW)
    decided_text = iso_instants(decided)
    created_text = iso_instants(created)
    return list(zip(
        item_ids[ri].tolist(), [codes[i] for i in ri.tolist()], amount.tolist(),
        level.tolist(), [REQUEST_STATUSES[s] for s in req_status.tolist()],
        [g if s == 2 else None for g, s in zip(granted.tolist(), req_status.tolist(),
                                               strict=True)],
        [d if s else None for d, s in zip(decided_text, req_status.tolist(), strict=True)],
        created_text,
        [d if s else c for d, c, s in zip(decided_text, created_text, req_status.tolist(),
                                          strict=True)],
        strict=True))


BULK_TABLES = ("problems", "forums", "plans", "plan_items", "progress_updates",
               "support_requests")
INSERTS = {
    "problems": "INSERT INTO problems (village_code, category, description, households, severity,"
                " reporter_id, created_at) VALUES (?, ?, 'bench', ?, ?, 1, ?)",
    "forums": "INSERT INTO forums (village_code, held_on, participants, reporter_id, created_at)"
              " VALUES (?, ?, ?, 1, ?)",
    "plans": "INSERT INTO plans (id, village_code, period_start, period_end, status, created_by,"
             " created_at) VALUES (?, ?, ?, ?, ?, 1, ?)",
    "plan_items": "INSERT INTO plan_items (id, plan_id, village_code, title, approach,"
                  " budget_needed, own_money, start_on, end_on, responsible, status, percent,"
                  " outcome_solved, households_helped, outcome_confirmed_at, created_by,"
                  " created_at, updated_at) VALUES (?, ?, ?, 'bench', ?, ?, ?, ?, ?, 'bench', ?,"
                  " ?, ?, ?, ?, 1, ?, ?)",
    "progress_updates": "INSERT INTO progress_updates (item_id, village_code, status, percent,"
                        " reporter_id, created_at) VALUES (?, ?, ?, ?, 1, ?)",
    "support_requests": "INSERT INTO support_requests (item_id, village_code, amount_requested,"
                        " purpose, level, status, amount_granted, decided_at, created_by,"
                        " created_at, updated_at) VALUES (?, ?, ?, 'bench', ?, ?, ?, ?, 1, ?, ?)",
}


def index_statements() -> list[str]:
    if not INDEX_FILE.exists():
        return []
    lines = [ln for ln in INDEX_FILE.read_text("utf-8").splitlines()
             if not ln.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def generate(path: Path, scale: int) -> dict[str, Any]:
    """Fill a migrated file with the synthetic nation; returns the row counts."""
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    conn.execute("PRAGMA temp_store = FILE")
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND"
        f" tbl_name IN ({','.join('?' * len(BULK_TABLES))})", BULK_TABLES).fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    conn.execute("BEGIN")
    conn.execute("INSERT OR IGNORE INTO people (id, display_name, created_at)"
                 " VALUES (1, 'bench', '2024-01-01T00:00:00.000000+00:00')")
    v = plan_villages(conn, np.random.default_rng(SEED))
    conn.executemany(
        "INSERT INTO areas (code, level, parent_code, name_th, name_en, village_no)"
        " VALUES (?, 'village', ?, ?, ?, ?)",
        [(c, t, f"Ban {c}", f"Ban {c}", int(c[6:])) for c, t in zip(v.codes, v.tambon_of,
                                                                     strict=True)])
    r = rates(v)
    ids = Ids()
    counts = dict.fromkeys(BULK_TABLES, 0)
    groups = ((np.flatnonzero(v.fixed), np.random.default_rng(SEED + 1), 1),
              (np.flatnonzero(~v.fixed), np.random.default_rng(SEED + 2 + scale), scale))
    done = 0
    for idx_all, rng, mult in groups:
        for at in range(0, len(idx_all), CHUNK):
            idx = idx_all[at:at + CHUNK]
            rows = {"problems": problem_rows(rng, v, idx, mult, r),
                    "forums": forum_rows(rng, v, idx, mult, r)}
            chunk = plan_rows(rng, v, idx, mult, r, ids)
            rows |= {"plans": chunk.plans, "plan_items": chunk.items,
                     "progress_updates": chunk.progress, "support_requests": chunk.requests}
            for table, table_rows in rows.items():
                # rowcount, not total_changes: that counts the triggers' writes too
                counts[table] += conn.executemany(INSERTS[table], table_rows).rowcount
            done += len(idx)
            if done % (CHUNK * 5) < CHUNK:
                print(f"  {done:>6,} / {len(v.codes):,} villages, {counts['problems']:,} problems,"
                      f" {counts['progress_updates']:,} progress updates"
                      f" ({time.perf_counter() - started:.0f} s)", flush=True)
    conn.execute("COMMIT")
    print(f"  rows in ({time.perf_counter() - started:.0f} s); building indexes", flush=True)
    for _, sql in indexes:
        conn.execute(sql)
    for sql in index_statements():
        conn.execute(sql)
    conn.close()
    counts["villages"] = len(v.codes)
    seconds = round(time.perf_counter() - started)
    print(f"  done in {seconds} s", flush=True)
    return {"scale": scale, "counts": counts, "generated_in_seconds": seconds,
            "bench_tambons": sorted({t for t, f in zip(v.tambon_of, v.fixed.tolist(),
                                                      strict=True) if f})}


# --- the cached files ---------------------------------------------------------------------------

def data_file(scale: int) -> Path:
    return DATA_DIR / f"summaries-x{scale}-v{GENERATOR_VERSION}.db"


async def ensure_dataset(scale: int, regenerate: bool) -> dict[str, Any]:
    """The cached file for `scale` (built if missing or asked to), and what it holds."""
    path, meta_path = data_file(scale), data_file(scale).with_suffix(".json")
    if regenerate:
        path.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
    if path.exists() and meta_path.exists():
        return json.loads(meta_path.read_text("utf-8"))
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    for leftover in DATA_DIR.glob(f"{building.name}*"):
        leftover.unlink()
    print(f"generating the {scale}x dataset into {path.relative_to(ROOT)}", flush=True)
    async with Database(building) as db:  # every migration: the real schema and areas
        await db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    meta = generate(building, scale)
    meta["bytes"] = building.stat().st_size
    building.rename(path)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


# --- timing -------------------------------------------------------------------------------------

LEVEL_TARGETS = (("tambon", 0.050), ("district", 0.200), ("province", None), ("network", None),
                 ("nation", 2.0))


async def open_dataset(path: Path) -> Database:
    db = await Database(path).open()
    for sql in index_statements():  # no-ops unless the cache predates an index
        await db.conn.execute(sql)
    return db


async def timed(db: Database, code: str, on_reader: bool = False) -> float:
    """One summary's seconds; `on_reader`: through `Database.reader()`, as the bot's
    summaries (bot/summary_renderer.py) and the web site's run them."""
    async with (contextlib.nullcontext(await db.reader()) if on_reader
                else db.read()) as conn:
        started = time.perf_counter()
        await compute_summary(conn, code, PERIOD, TODAY)
        return time.perf_counter() - started


async def areas_to_time(db: Database, tambons: list[str]) -> dict[str, list[str]]:
    async with db.read() as conn, conn.execute(
            "SELECT code, parent_code FROM areas WHERE level = 'province'") as cur:
        network_of = {r[0]: r[1] for r in await cur.fetchall()}
    networks = list(dict.fromkeys(network_of[t[:2]] for t in tambons))
    networks += [n for n in sorted(set(network_of.values())) if n not in networks]
    return {"tambon": tambons, "district": sorted({t[:4] for t in tambons}),
            "province": sorted({t[:2] for t in tambons}), "network": networks[:4],
            "nation": ["TH"]}


async def time_levels(db: Database, tambons: list[str], runs: int, on_reader: bool = False
                      ) -> dict[str, Any]:
    levels: dict[str, Any] = {}
    for level, target in LEVEL_TARGETS:
        codes = (await areas_to_time(db, tambons))[level]
        seconds: list[float] = []
        per_area = {}
        for code in codes:
            await timed(db, code, on_reader)  # warm: the first read pulls its pages in
            area_runs = [await timed(db, code, on_reader) for _ in range(runs)]
            per_area[code] = round(statistics.median(area_runs), 4)
            seconds += area_runs
        levels[level] = {"areas": per_area, "runs_per_area": runs,
                         "median_seconds": round(statistics.median(seconds), 4),
                         "max_seconds": round(max(seconds), 4), "target_seconds": target}
        print(f"  {level:<9} {levels[level]['median_seconds'] * 1000:>8.1f} ms median,"
              f" {levels[level]['max_seconds'] * 1000:>8.1f} ms max over {len(codes)} areas",
              flush=True)
    return levels


class DirectConnection:
    """The file opened with sqlite3 in the calling thread, offering the one method the
    summary queries use. Timing through it leaves out aiosqlite's hand-off of each query to
    its worker thread: a fixed ~0.05-0.1 ms per query whatever the data size, which on this
    VM varies by up to 2x between two connections (thread wake-ups) and would drown the
    effect measured here. It also counts SQLite's virtual-machine instructions."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        self.instructions = 0

    async def execute_fetchall(self, sql: str, params: Any = ()) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    def count_instructions(self, on: bool) -> None:
        def tick() -> int:
            self.instructions += 100
            return 0
        self.conn.set_progress_handler(tick if on else None, 100)


async def direct_seconds(conn: DirectConnection, code: str) -> float:
    started = time.perf_counter()
    await compute_summary(conn, code, PERIOD, TODAY)  # type: ignore[arg-type]
    return time.perf_counter() - started


async def interleaved(timers: dict[int, Any], tambons: list[str], rounds: int
                      ) -> dict[tuple[int, str], float]:
    """Median seconds per (scale, tambon), timed in a new random order every round."""
    runs: dict[tuple[int, str], list[float]] = {(s, c): [] for s in timers for c in tambons}
    order = random.Random(SEED)
    for _ in range(rounds):
        keys = list(runs)
        order.shuffle(keys)
        for scale, code in keys:
            runs[(scale, code)].append(await timers[scale](code))
    return {key: statistics.median(v) for key, v in runs.items()}


def ratio(medians: dict[tuple[int, str], float], tambons: list[str]) -> float:
    return (sum(medians[(SCALE, c)] for c in tambons) / sum(medians[(1, c)] for c in tambons))


async def scaling(small: Database, large: Database, tambons: list[str], rounds: int
                  ) -> dict[str, Any]:
    """The same tambons in both files: their summaries must be equal; then the time and the
    SQLite instructions they take in each."""
    for code in tambons:
        async with small.read() as a, large.read() as b:
            same = (await compute_summary(a, code, PERIOD, TODAY)
                    == await compute_summary(b, code, PERIOD, TODAY))
        if not same:
            raise AssertionError(f"tambon {code} differs between the 1x and {SCALE}x files")
    direct = {1: DirectConnection(data_file(1)), SCALE: DirectConnection(data_file(SCALE))}
    instructions = {}
    for scale, conn in direct.items():
        conn.count_instructions(True)
        for code in tambons:
            await compute_summary(conn, code, PERIOD, TODAY)  # type: ignore[arg-type]
        conn.count_instructions(False)
        instructions[scale] = conn.instructions
    timed_direct = await interleaved(
        {s: (lambda code, c=conn: direct_seconds(c, code)) for s, conn in direct.items()},
        tambons, rounds)
    files = {1: small, SCALE: large}
    timed_aiosqlite = await interleaved(
        {s: (lambda code, d=db: timed(d, code)) for s, db in files.items()}, tambons, rounds)
    for conn in direct.values():
        conn.conn.close()
    return {
        "tambons": tambons, "rounds": rounds, "same_summaries": True,
        "direct_median_seconds": {f"{s}x {c}": round(v, 6) for (s, c), v in timed_direct.items()},
        "ratio": round(ratio(timed_direct, tambons), 3), "target_ratio": 1.2,
        "sqlite_instructions": {f"{s}x": n for s, n in instructions.items()},
        "instructions_ratio": round(instructions[SCALE] / instructions[1], 3),
        "aiosqlite_median_seconds": {f"{s}x {c}": round(v, 6)
                                     for (s, c), v in timed_aiosqlite.items()},
        "aiosqlite_ratio": round(ratio(timed_aiosqlite, tambons), 3)}


async def main_postgres(regenerate: bool, runs: int, pg_url: str | None = None,
                        copy: bool = True) -> dict[str, Any]:
    """The levels on PostgreSQL: the 1x file copied into a throwaway server (or into the
    database at `pg_url`; `copy` False: time what that database already holds)."""
    from bench.common import fresh_database, postgres_server

    meta = await ensure_dataset(1, regenerate)
    result: dict[str, Any] = {
        "date": date.today().isoformat(), "today": TODAY.isoformat(), "engine": "postgresql",
        "period": [PERIOD.start.isoformat(), PERIOD.end.isoformat()],
        "cpus": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "dataset": meta}
    with postgres_server(pg_url is None) as server:
        url = pg_url or fresh_database(server, "summaries")
        if copy:
            await copy_into(url, result)
        async with Database(url) as db:
            # Through reader(), as the bot's summaries run: its connections plan each
            # statement with its values and take a summary's reads at once.
            result["levels"] = await time_levels(db, meta["bench_tambons"], runs,
                                                 on_reader=True)
    return result


async def copy_into(url: str, result: dict[str, Any]) -> None:
    """The 1x file into `url` with `cercap-bot db copy`'s code; its figures into `result`."""
    from storage.copy import copy_database

    started = time.perf_counter()
    print(f"copying {data_file(1).name} into PostgreSQL (storage/copy.py)", flush=True)
    tables: dict[str, Any] = {}
    last = [started]

    def copied(table: str, n: int) -> None:
        now = time.perf_counter()
        tables[table] = {"rows": n, "seconds": round(now - last[0], 2)}
        last[0] = now
        print(f"  {table}: {n:,} rows ({now - started:.0f} s)", flush=True)

    copy = await copy_database(data_file(1), url, copied)
    seconds = time.perf_counter() - started  # with the checks, the commit and ANALYZE
    rows = sum(copy.counts.values())
    result["copy"] = {"seconds": round(seconds, 1), "rows": rows,
                      "rows_per_second": round(rows / seconds),
                      "triggers": copy.triggers, "tables": tables,
                      "file_bytes": data_file(1).stat().st_size}
    result["copied_in_seconds"] = round(seconds)
    print(f"copied {rows:,} rows in {seconds:.0f} s ({rows / seconds:,.0f} rows/s, counts"
          " checked, foreign keys checked, ANALYZEd); timing", flush=True)


# --- the report ---------------------------------------------------------------------------------

async def main(regenerate: bool, with_scaling: bool, runs: int) -> dict[str, Any]:
    meta = await ensure_dataset(1, regenerate)
    tambons = meta["bench_tambons"]
    result: dict[str, Any] = {
        "date": date.today().isoformat(), "today": TODAY.isoformat(),
        "period": [PERIOD.start.isoformat(), PERIOD.end.isoformat()],
        "cpus": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "dataset": meta}
    print(f"timing compute_summary on {data_file(1).name} (period {PERIOD.start} to {PERIOD.end})",
          flush=True)
    db = await open_dataset(data_file(1))
    try:
        result["levels"] = await time_levels(db, tambons, runs)
        if with_scaling:
            result["dataset_10x"] = await ensure_dataset(SCALE, regenerate)
            large = await open_dataset(data_file(SCALE))
            try:
                print(f"scaling: the same tambons in {data_file(SCALE).name}", flush=True)
                result["scaling"] = await scaling(db, large, tambons, rounds=max(runs, 40))
            finally:
                await large.close()
    finally:
        await db.close()
    return result


def report(result: dict[str, Any]) -> str:
    counts = result["dataset"]["counts"]
    lines = [
        f"summaries on {counts['villages']:,} villages, {counts['problems']:,} problems,"
        f" {counts['plan_items']:,} plan items, {counts['progress_updates']:,} progress updates,"
        f" {counts['support_requests']:,} support requests, {counts['forums']:,} forums"
        f" (period {result['period'][0]} to {result['period'][1]}, {result['cpus']} cpus)",
        f"  {'level':<10} {'median':>10} {'max':>10}   {'target':<9} result"]
    for level, row in result["levels"].items():
        target = row["target_seconds"]
        verdict = "-" if target is None else ("OK" if row["max_seconds"] <= target else "MISSED")
        lines.append(f"  {level:<10} {row['median_seconds'] * 1000:>8.1f}ms"
                     f" {row['max_seconds'] * 1000:>8.1f}ms   "
                     f"{'-' if target is None else f'≤ {target * 1000:g} ms':<9} {verdict}")
    copied = result.get("copy")
    if copied:
        lines.append(f"  copied {copied['rows']:,} rows in {copied['seconds']:.0f} s"
                     f" ({copied['rows_per_second']:,} rows/s; triggers {copied['triggers']})")
    scale = result.get("scaling")
    if scale:
        big = result["dataset_10x"]["counts"]
        verdict = "OK" if scale["ratio"] <= scale["target_ratio"] else "MISSED"
        lines += [
            f"  scaling: the {len(scale['tambons'])} timed tambons hold the same rows (equal"
            f" summaries) in a file where every other village has {SCALE}x the rows"
            f" ({big['problems']:,} problems, {big['progress_updates']:,} progress updates):",
            f"  {'tambon 10x':<10} {scale['ratio']:>9.3f}x {'':>10}   {'≤ 1.2x':<9} {verdict}"
            "  (time in SQLite and Python, sum of per-tambon medians, 10x over 1x)",
            f"  {'':<10} SQLite instructions {scale['instructions_ratio']:.3f}x;"
            f" through aiosqlite's thread {scale['aiosqlite_ratio']:.3f}x"
            " (hand-off noise, see DirectConnection)"]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regenerate", action="store_true",
                        help="rebuild the cached datasets under bench/data/")
    parser.add_argument("--no-scaling", action="store_true",
                        help="skip the 10x file and the scaling check")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per area")
    parser.add_argument("--postgres", action="store_true",
                        help="time the levels on a throwaway PostgreSQL holding the 1x file")
    parser.add_argument("--pg-url", metavar="POSTGRESQL_URL",
                        help="with --postgres: copy into (and time) this database instead")
    parser.add_argument("--no-copy", action="store_true",
                        help="with --pg-url: time what the database already holds")
    args = parser.parse_args()
    if args.postgres:
        outcome = asyncio.run(main_postgres(args.regenerate, args.runs, args.pg_url,
                                            not args.no_copy))
    else:
        outcome = asyncio.run(main(args.regenerate, not args.no_scaling, args.runs))
    print(report(outcome))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    name = "summaries-postgres.json" if args.postgres else "summaries.json"
    (RESULTS_DIR / name).write_text(json.dumps(outcome, indent=2) + "\n")
