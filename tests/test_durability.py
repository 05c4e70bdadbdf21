"""A hard kill in the middle of a stream of punches loses nothing acknowledged."""

import datetime as dt
import signal
import subprocess
import sys
import textwrap

from kiosk.store import Store
from tests.conftest import punch

WRITER = textwrap.dedent("""
    import datetime as dt, sys
    import numpy as np
    from kiosk.store import Store
    from tests.conftest import punch
    store = Store(sys.argv[1])
    ids = [store.add_employee(f"P{i}", image=None, face=None, crop=np.zeros((8, 8, 3), np.uint8), embedding=np.ones(4, np.float32), model_version="v") for i in range(5)]
    t = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.timezone.utc)
    n = 0
    while True:
        n += 1
        entry = punch(store, ids[n % 5], t + dt.timedelta(seconds=n))
        print(entry.id, flush=True)   # acknowledged only once committed
""")


def test_sigkill_mid_stream_keeps_every_acknowledged_punch(tmp_path):
    db = tmp_path / "kiosk.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    acknowledged = []
    for line in proc.stdout:
        acknowledged.append(int(line))
        if len(acknowledged) == 150:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    store = Store(db)
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {r["id"] for r in store.attendance()}
    assert set(acknowledged) <= stored
    # and the kiosk carries on writing after the restart
    assert punch(store, 1, dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc)) is not None
