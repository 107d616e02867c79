"""`python -m bench` (`make bench`): the eight figures, each beside its floor measured in the same run.

Starts a private RabbitMQ node and a fresh storage server, the services as
`nameko run` processes, measures, prints the table and writes it to
.data/bench-last-run.md (bench/README.md keeps the committed one). ``--quick`` runs
every figure at a small size, to check the benchmark itself.
"""
from __future__ import annotations

import argparse
import os
import platform as host
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import event_path, platform, read_pages
from bench.report import Figure, Progress, table
from bench.system import System, resident_megabytes

SERVICES = ("members", "ideas", "notify", "archive", "web")
MEMORY_GOAL_MB = 90.0


def machine() -> str:
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal:"))
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), host.processor() or "unknown CPU")
    return (f"{os.cpu_count()} cores ({model}), {memory_kb / 1024 / 1024:.1f} GiB memory, "
            f"{host.system()} {host.release()}, Python {host.python_version()}")


def memory_figures(system: System, progress: Progress) -> list[Figure]:
    progress.say("[6] Memory: resident set of each idle service after start-up")
    time.sleep(3)  # let start-up work (index creation, first connections) settle
    figures = []
    for name in SERVICES:
        rss = system.services[name].resident_megabytes()
        figure = Figure("6", f"Memory, {name}", rss, MEMORY_GOAL_MB, "MB", 1.0, False, floor_name="goal")
        progress.say(f"  {name}: {rss:.1f} MB (goal ≤ {MEMORY_GOAL_MB:g} MB)")
        figures.append(figure)
    return figures


def catch_up(system: System, progress: Progress, steady: Figure, count: int) -> Figure:
    progress.say(f"[5] Catch-up: broker stopped, {count} events pile up in the outbox, then the broker starts")
    system.broker.stop()
    outbox = system.mongo()["bench_event_source"].outbox
    effects = system.mongo()["bench_event_sink"].effects
    already = effects.estimated_document_count()
    errors: list = []
    thread = event_path.produce(system.url("event_source"), count, errors)
    while thread.is_alive():
        progress.tick(f"outbox: {outbox.count_documents({'state': 'pending'})} events waiting")
        time.sleep(0.5)
    if errors:
        raise RuntimeError(f"the producer failed while the broker was down: {errors[0]}")
    waiting = outbox.count_documents({"state": "pending"})
    progress.say(f"  {waiting} events waiting in the outbox; starting the broker")
    system.broker.start()
    started = time.time()
    drain = event_path.wait_for_effects(effects, already + count, started, progress, "catch-up")
    figure = Figure("5", "Catch-up drain", count / drain.seconds, steady.figure, "events/s", 0.9, True,
                    floor_name="figure 1's steady rate")
    figure.notes.append(f"{waiting} events drained in {drain.seconds:.1f} s from the broker's start")
    progress.result(figure)
    return figure


def run(quick: bool, only: str | None = None) -> list[Figure]:
    progress = Progress()
    sizes = dict(events=200, catch_up=500, ratings=200, rate_step_seconds=1, wrk_seconds=3, read_seconds=2, times=30, ideas=500, comments=500,
                 archive_small=200, archive_large=2000) if quick else dict(
        events=2000, catch_up=10000, ratings=1000, rate_step_seconds=5, wrk_seconds=15, read_seconds=5, times=200, ideas=10000, comments=10000,
        archive_small=1000, archive_large=100000)
    system = System()
    figures: list[Figure] = []
    try:
        progress.say("Starting a private RabbitMQ node and a fresh storage server ...")
        system.start_infrastructure()
        entries, changes = system.oplog_entries()
        progress.say(f"  storage oplog at start: {entries} entries, {changes} of them data changes"
                     f"{' (empty: a fresh server)' if changes == 0 else ' (NOT a fresh server)'}")
        progress.say("Starting the services (nameko run, as make run does) ...")
        system.start_services(SERVICES, extra_env={"RATING_BATCH_SECONDS": "0", "MEMBER_WRITE_LIMIT": "1000000 per minute"})
        if only == "read-pages":
            world = platform.World(system)
            return read_pages.measure_read_pages(system, world, platform.build_idea_page(world, progress), progress,
                                                 sizes["read_seconds"])
        if only == "ratings":
            world = platform.World(system)
            return [*platform.measure_rating_path(system, world, progress, sizes["ratings"]),
                    platform.measure_sustainable_rate(system, world, progress, sizes["rate_step_seconds"])]
        memory = memory_figures(system, progress)

        first = event_path.measure_event_path(system, progress, sizes["events"])
        figures.append(first)
        figures.append(catch_up(system, progress, first, sizes["catch_up"]))
        system.stop_services(["event_source", "event_sink"])

        world = platform.World(system)
        idea_id = platform.build_idea_page(world, progress)
        figures.append(platform.measure_idea_page(system, world, idea_id, progress, sizes["wrk_seconds"]))
        figures += read_pages.measure_read_pages(system, world, idea_id, progress, sizes["read_seconds"])

        progress.say("[4] Flat cost: idea page and archive search, small and large")
        for number in range(9):
            world.idea("idea-author", f"Small world idea {number}")
        small_page, small_read = platform.idea_page_p50(system, world, idea_id, sizes["times"])
        platform.seed_archive(system, sizes["archive_small"], platform.SEARCH_MATCHES, progress)
        small_search = platform.search_p50(world, sizes["times"])
        platform.seed_ideas(system, idea_id, sizes["ideas"] - 10, sizes["comments"], progress)
        platform.seed_archive(system, sizes["archive_large"], platform.SEARCH_MATCHES, progress)
        large_page, large_read = platform.idea_page_p50(system, world, idea_id, sizes["times"])
        large_search = platform.search_p50(world, sizes["times"])
        flat = [
            Figure("4", f"Idea page p50, {sizes['ideas']:,} ideas vs 10", large_page * 1000, small_page * 1000, "ms",
                   1.3, False, floor_name="10 ideas"),
            Figure("4", f"Idea read without cache p50, {sizes['ideas']:,} vs 10", large_read * 1000,
                   small_read * 1000, "ms", 1.3, False, floor_name="10 ideas"),
            Figure("4", f"Archive search p50, {sizes['archive_large']:,} vs {sizes['archive_small']:,} documents",
                   large_search * 1000, small_search * 1000, "ms", 2.0, False,
                   floor_name=f"{sizes['archive_small']:,} documents"),
        ]
        for figure in flat:
            progress.result(figure)
        figures += flat

        figures += platform.measure_rating_path(system, world, progress, sizes["ratings"])
        figures.append(platform.measure_sustainable_rate(system, world, progress, sizes["rate_step_seconds"]))
        figures += memory
    finally:
        progress.say("Stopping the services, the storage server and the broker ...")
        system.close()
    return sorted(figures, key=lambda f: f.number)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the benchmark itself")
    parser.add_argument("--read-pages", action="store_true",
                        help="only figure 7 (the read pages), to check a change to the read path in minutes")
    parser.add_argument("--ratings", action="store_true",
                        help="only figures 2 and 8 (the rating path), to check a change to the write path")
    args = parser.parse_args(argv)
    began = time.monotonic()
    figures = run(args.quick, "read-pages" if args.read_pages else "ratings" if args.ratings else None)
    minutes = (time.monotonic() - began) / 60
    report = (f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC{' (quick)' if args.quick else ''} on {machine()}; "
              f"{minutes:.1f} minutes.\n\n{table(figures)}\n")
    notes = [f"- {f.name}: {note}" for f in figures for note in f.notes]
    if notes:
        report += "\n" + "\n".join(notes) + "\n"
    print("\n" + report)
    target = Path(__file__).resolve().parents[1] / ".data" / "bench-last-run.md"
    target.parent.mkdir(exist_ok=True)
    target.write_text(report)
    return 0 if all(f.met for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
