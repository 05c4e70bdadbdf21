"""Several kiosks on one PostgreSQL database: how fast changes travel.

    .venv/bin/python benchmarks/fleet.py [--changes 20] [--kiosks 10] [--seconds 10] [--backlog 10000]

Starts its own PostgreSQL server from Debian's ``postgresql`` package in a
temporary folder (tests/postgres_server.py), creates the fleet schema and a
door role, then measures, each against a baseline in the same run:

1. **gallery change to a kiosk**: the admin enrols someone; the time until a
   door's local gallery has them, with the door's sync thread waiting for
   the database's notice (baseline: the same door polling every 2 s with no
   notices);
2. **punch throughput** from ``--kiosks`` simulated kiosks, each a process
   with its own SQLite replica and sync thread, recording punches as fast as
   they can (every punch on disk locally first) for ``--seconds``: punches
   per second that reach PostgreSQL (baseline: one kiosk alone);
3. **catch-up**: one kiosk that recorded ``--backlog`` punches offline sends
   them all, and a new member pulls every punch in the database (baseline:
   recording the backlog locally in the first place).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiosk.fleet.central import Central  # noqa: E402
from kiosk.fleet.replica import MemberStore  # noqa: E402
from kiosk.fleet.sync import Replicator  # noqa: E402
from kiosk.store import Store  # noqa: E402
from tests.helpers import punch  # noqa: E402
from tests.postgres_server import PostgresServer, wait_for  # noqa: E402

T0 = dt.datetime(2026, 11, 23, 8, tzinfo=dt.UTC)


def enrol(store, name, seed):
    emb = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return store.add_employee(
        name,
        image=np.zeros((150, 150, 3), np.uint8),
        face=None,
        crop=np.zeros((150, 150, 3), np.uint8),
        embedding=emb / np.linalg.norm(emb),
        model_version="v1",
    )


def gallery_latency(urls, folder: Path, changes: int, notices: bool) -> list[float]:
    admin_central, door_central = Central(urls["boss"]), Central(urls["door"])
    admin = MemberStore(Store(folder / "admin.db"), admin_central)
    door_db = folder / "door.db"
    door = MemberStore(Store(door_db), door_central)
    replicator = Replicator(door.replica, door_central, site="", model_version="v1", interval=30.0 if notices else 2.0)
    if not notices:
        door_central.wait = lambda seconds, woken=None: bool(woken.wait(seconds) if woken else time.sleep(seconds))
    thread = threading.Thread(target=replicator.run, daemon=True)
    thread.start()
    watcher = door
    wait_for(lambda: replicator.state.state == "connected", 30)
    times = []
    for n in range(changes):
        time.sleep(0.3)
        started = time.perf_counter()
        employee_id = enrol(admin, f"P{n}", n)
        wait_for(lambda employee_id=employee_id: employee_id in watcher.gallery("v1").ids, 60, every=0.002)
        times.append(time.perf_counter() - started)
    replicator.stop()
    thread.join(5)
    for thing in (door, admin, admin_central, door_central):
        thing.close()
    return times


KIOSK = textwrap.dedent("""
    import sys, threading, time, datetime as dt
    from kiosk.fleet.central import Central
    from kiosk.fleet.replica import MemberStore
    from kiosk.fleet.sync import Replicator
    from kiosk.store import Store
    from tests.helpers import punch
    url, db, name, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    central = Central(url)
    store = MemberStore(Store(db), central)
    replicator = Replicator(store.replica, central, site="bench", model_version="v1")
    store.appended = replicator.wake.set
    store.pull_gallery("v1")
    people = [e.id for e in store.employees()]
    threading.Thread(target=replicator.run, daemon=True).start()
    print("ready", flush=True)
    sys.stdin.readline()
    t0, n = dt.datetime(2026, 11, 23, 8, tzinfo=dt.timezone.utc), 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        n += 1
        punch(store, people[n % len(people)], t0 + dt.timedelta(seconds=n), kiosk_id=name)
    while store.replica.backlog():
        time.sleep(0.01)
    print(n, flush=True)
""")


def throughput(urls, folder: Path, kiosks: int, seconds: float) -> dict:
    root = Path(__file__).resolve().parents[1]
    before = Central(urls["owner"])
    start_count = before.count_punches()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", KIOSK, urls["door"], str(folder / f"k{i}.db"), f"k{i}", str(seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=root,
        )
        for i in range(kiosks)
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    recorded = sum(int(p.stdout.readline()) for p in procs)
    elapsed = time.perf_counter() - started
    for p in procs:
        p.wait(30)
    arrived = before.count_punches() - start_count
    before.close()
    return {
        "kiosks": kiosks,
        "recorded": recorded,
        "arrived": arrived,
        "seconds": round(elapsed, 2),
        "per_second": round(arrived / elapsed, 1),
    }


def catch_up(urls, folder: Path, backlog: int) -> dict:
    central = Central(urls["door"])
    store = MemberStore(Store(folder / "offline.db"), central)
    store.pull_gallery("v1")
    people = [e.id for e in store.employees()]
    started = time.perf_counter()
    for n in range(backlog):
        punch(store, people[n % len(people)], T0 + dt.timedelta(days=30, seconds=n), kiosk_id="offline")
    record = time.perf_counter() - started
    replicator = Replicator(store.replica, central, site="bench", model_version="v1")
    started = time.perf_counter()
    while store.replica.backlog():
        replicator.sync_once()
    send = time.perf_counter() - started
    other = MemberStore(Store(folder / "late.db"), central)
    other.pull_gallery("v1")
    started = time.perf_counter()
    while punches := central.punches_after(other.replica.punch_position()):
        other.replica.apply_punches(punches)
    pull = time.perf_counter() - started
    pulled = other.db.execute("SELECT COUNT(*) FROM attendance").fetchone()[
        0
    ]  # every door's punches so far, this backlog among them
    for thing in (store, other, central):
        thing.close()
    return {
        "backlog": backlog,
        "record_locally_s": round(record, 2),
        "send_s": round(send, 2),
        "send_per_second": round(backlog / send),
        "pull_all_s": round(pull, 2),
        "pulled_rows": pulled,
        "pull_rows_per_second": round(pulled / pull),
    }


def summary(times: list[float]) -> dict:
    ms = sorted(t * 1000 for t in times)
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 1),
        "max_ms": round(ms[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--kiosks", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    server = PostgresServer()
    try:
        owner = server.url()
        Central(owner).migrate()
        server.sql("CREATE ROLE door LOGIN IN ROLE kiosk_member")
        server.sql("CREATE ROLE boss LOGIN IN ROLE kiosk_admin")
        urls = {"owner": owner, "door": server.url("door"), "boss": server.url("boss")}
        folder = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
        results = {"machine": f"{__import__('os').cpu_count()} cores", "postgres": server.sql("SHOW server_version")[0][0]}
        results["gallery_change_with_notices"] = summary(gallery_latency(urls, folder / "a", args.changes, notices=True))
        results["gallery_change_polling_2s_baseline"] = summary(
            gallery_latency(urls, folder / "b", max(5, args.changes // 4), notices=False)
        )
        print(json.dumps(results, indent=1), flush=True)
        results["throughput_one_kiosk_baseline"] = throughput(urls, folder / "one", 1, args.seconds)
        results[f"throughput_{args.kiosks}_kiosks"] = throughput(urls, folder / "many", args.kiosks, args.seconds)
        results["catch_up"] = catch_up(urls, folder, args.backlog)
        print(json.dumps(results, indent=1))
        if args.out:
            args.out.write_text(json.dumps(results, indent=1) + "\n")
    finally:
        server.close()


if __name__ == "__main__":
    main()
