"""1, 2 and 3 instances on one PostgreSQL through nginx: LINE throughput and the CPU share
of every process (issue 14).

For each count N: a fresh database on one throwaway PostgreSQL server (tests/pg_server.py,
durability off), N `python -m bot.cli run` behind nginx running deploy/nginx.conf
(tests/lb.py), and `--people` simulated LINE people walking the report flow through the
balancer, as bench/throughput_line.py does against one instance (each posts its next
answer once the whole reply arrived at the LINE test server). Figures: events per second,
latency p50/p99 (webhook POST to the reply's arrival), replies lost or doubled, and the
CPU each process used over the measured phase as a share of one core: every instance,
PostgreSQL (all its processes), nginx, and this process (the LINE test server and the
people). The machine's cores bound the sum.

    python -m bench.instances [--people 200] [--events 10] [--counts 1,2,3]

Prints a table and writes bench/results/instances.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import psycopg  # noqa: E402

from bench.common import (  # noqa: E402
    BOT_COMMAND,
    LINE_SECRET,
    LINE_TOKEN,
    Process,
    answered_once,
    bot_env,
    collector_paused,
    cpu_seconds,
    free_port,
    line_ids,
    machine,
    phase_figures,
    seed,
    self_cpu_seconds,
)
from bench.throughput_line import WARM_UP_EVENTS, LineWalker, watch_deliveries  # noqa: E402
from tests.lb import nginx as balancer  # noqa: E402
from tests.pg_server import PgServer, throwaway_server  # noqa: E402
from tests.servers.line_api import LineTestServer  # noqa: E402

RATE = "events_per_second"


def _machine_cpu() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine so far, every core summed."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == parent:
                found.append(int(entry.name))
    return found


def _tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds of a process and its children (PostgreSQL's backends, nginx's workers)."""
    cpu = {}
    for pid in [root, *_children(root)]:
        with contextlib.suppress(OSError):
            cpu[pid] = cpu_seconds(pid)
    return cpu


def _used(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[p] - before.get(p, 0.0) for p in after)


async def measure(server: PgServer, count: int, people_count: int, events: int,
                  folder: Path) -> dict[str, Any]:
    name = f"instances{count}"
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = server.url(name)
    people = line_ids(people_count)
    warm_up = line_ids(10, first=people_count)
    await seed(url, [], people + warm_up)  # type: ignore[arg-type]
    postmaster = int((server.folder / "data" / "postmaster.pid").read_text().split()[0])
    async with LineTestServer(channel_secret=LINE_SECRET, access_token=LINE_TOKEN) as line:
        ports = [free_port() for _ in range(count)]
        lb_port = free_port()
        bots = []
        for i, port in enumerate(ports):
            env = {**bot_env(folder, port, line_origin=line.origin), "CERCAP_DB": url}
            bots.append(Process(BOT_COMMAND, env, folder / f"bot{count}-{i}.log"))
        with balancer(lb_port, ports) as (origin, nginx):
            for bot in bots:
                bot.start()
            try:
                for bot, port in zip(bots, ports, strict=True):
                    await bot.wait_healthy(port)
                result = await _load(line, f"{origin}/line/callback", bots, postmaster, nginx,
                                     people, warm_up, events)
            finally:
                for bot in bots:
                    bot.stop()
    return {"instances": count, **result}


async def _load(line: LineTestServer, url: str, bots: list[Process], postmaster: int,
                nginx: int, people: list[str], warm_up: list[str], events: int
                ) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=30)) as http:
        walkers = {uid: LineWalker(uid, line, http, url, echo=False)
                   for uid in people + warm_up}
        watch_deliveries(line, walkers)
        await asyncio.gather(*(walkers[u].walk(WARM_UP_EVENTS, None) for u in warm_up))
        await asyncio.sleep(1.0)
        latencies: list[float] = []
        with collector_paused():
            bots_before = [cpu_seconds(b.pid) for b in bots]
            pg_before, nginx_before = _tree_cpu(postmaster), _tree_cpu(nginx)
            machine_before = _machine_cpu()
            here, started = self_cpu_seconds(), time.monotonic()
            stalled = sum(await asyncio.gather(*(walkers[u].walk(events, latencies)
                                                 for u in people)))
            seconds = time.monotonic() - started
            here = self_cpu_seconds() - here
            machine_after = _machine_cpu()
            bots_cpu = [cpu_seconds(b.pid) - c for b, c in zip(bots, bots_before, strict=True)]
            pg_cpu = _used(pg_before, _tree_cpu(postmaster))
            nginx_cpu = _used(nginx_before, _tree_cpu(nginx))
        await asyncio.sleep(1.0)  # a reply sent twice would arrive now
    figures = phase_figures(latencies, seconds, sum(bots_cpu), here, stalled, RATE)
    figures = {k: v for k, v in figures.items() if not k.startswith("_")}
    shares = {f"instance_{i + 1}": round(c / seconds, 3) for i, c in enumerate(bots_cpu)}
    shares |= {"postgresql": round(pg_cpu / seconds, 3), "nginx": round(nginx_cpu / seconds, 3),
               "load_generator": round(here / seconds, 3)}
    shares["total"] = round(sum(shares.values()), 3)
    busy = machine_after[0] - machine_before[0]
    shares["whole_machine_busy"] = round(busy / seconds, 3)  # every process, others' too
    shares["other_processes"] = round(shares["whole_machine_busy"] - shares["total"], 3)
    return {**figures, **answered_once([walkers[u] for u in people]),
            "cpu_share_of_one_core": shares}


async def main(counts: list[int], people: int, events: int) -> dict[str, Any]:
    results = []
    with throwaway_server() as server, tempfile.TemporaryDirectory() as folder:
        for count in counts:
            results.append(await measure(server, count, people, events, Path(folder)))
    return {"machine": machine(), "people": people, "events_per_person": events,
            "results": results}


def report(result: dict[str, Any]) -> str:
    lines = [f"{'instances':>9} {'events/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'lost':>5}"
             f" {'doubled':>7}  CPU share of one core"]
    for r in result["results"]:
        shares = ", ".join(f"{k} {v}" for k, v in r["cpu_share_of_one_core"].items())
        lines.append(f"{r['instances']:>9} {r[RATE]:>9} {r['p50_ms']:>7} {r['p99_ms']:>7}"
                     f" {r['replies_lost']:>5} {r['replies_doubled']:>7}  {shares}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--counts", default="1,2,3")
    args = parser.parse_args()
    outcome = asyncio.run(main([int(c) for c in args.counts.split(",")], args.people,
                               args.events))
    print(report(outcome))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "instances.json").write_text(json.dumps(outcome, indent=2) + "\n")
