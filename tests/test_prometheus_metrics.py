"""Prometheus metrics at /metrics (kiosk/metrics.py, kiosk/web/metrics_page.py):
what the loop's observer counts, what is read from the kiosk's state at each
scrape, who may scrape, and that no name ever reaches a label."""

import logging
from collections import namedtuple

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kiosk.composition import build_encoder, build_loop
from kiosk.config import BUNDLED_MODEL, Config, DisplaySettings, KioskSettings, LivenessSettings, MetricsSettings, WebSettings
from kiosk.loop_observer import ALREADY, CANNOT_RECORD, NOT_RECOGNISED, SPOOF, WELCOME
from kiosk.metrics import MAX_STAGES, KioskMetrics
from kiosk.status import RecordingProblem, Status
from kiosk.web import create_app, passwords
from tests.helpers import PASSWORD, FakeClock, FrameFeed, enroll, lfw_image, login, photo_bytes, services
from tests.walkup import walk_up

Usage = namedtuple("Usage", "total used free")
OFFICE = {"REMOTE_ADDR": "192.168.1.50"}
PROMETHEUS = {"REMOTE_ADDR": "10.0.5.7"}


def free_disk(folder):
    return Usage(100 * 2**30, 60 * 2**30, 40 * 2**30)


def scrape(metrics: KioskMetrics) -> str:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    return body.decode()


def samples(text: str) -> dict:
    """Every sample of a scrape: (name, {label: value}) as a sorted tuple, to its value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def families(text: str) -> dict:
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def test_the_observer_counts_frames_stage_times_and_decisions(tmp_path):
    metrics = KioskMetrics(Status(), tmp_path, usage=free_disk)
    metrics.frame({"detect": 0.02, "quality": 0.0004})  # no face good enough: the pipeline stopped there
    metrics.frame({"detect": 0.03, "quality": 0.0003, "align": 0.004, "embed": 0.12, "match": 0.0002})
    metrics.frame({"detect": 0.02, "quality": 0.0003, "align": 0.004, "embed": 0.3, "match": 0.0002, "liveness": 0.01})
    for kind in (WELCOME, WELCOME, ALREADY, NOT_RECOGNISED, SPOOF, CANNOT_RECORD):
        metrics.decision(kind)

    text = scrape(metrics)
    found = samples(text)
    kinds = families(text)
    assert kinds["kiosk_frames_processed"] == "counter" and kinds["kiosk_stage_seconds"] == "histogram"
    assert kinds["kiosk_decisions"] == "counter" and kinds["kiosk_punches"] == "counter"
    assert found[("kiosk_frames_processed_total", ())] == 3
    count = {stage: found[("kiosk_stage_seconds_count", (("stage", stage),))] for stage in ("detect", "embed", "liveness")}
    assert count == {"detect": 3, "embed": 2, "liveness": 1}
    assert found[("kiosk_stage_seconds_sum", (("stage", "embed"),))] == pytest.approx(0.42)
    # 0.12 s falls in the 0.25 s bucket but not the 0.1 s one; 0.3 s in neither.
    assert found[("kiosk_stage_seconds_bucket", (("le", "0.1"), ("stage", "embed")))] == 0
    assert found[("kiosk_stage_seconds_bucket", (("le", "0.25"), ("stage", "embed")))] == 1
    assert found[("kiosk_stage_seconds_bucket", (("le", "+Inf"), ("stage", "embed")))] == 2
    decided = {labels[0][1]: value for (name, labels), value in found.items() if name == "kiosk_decisions_total"}
    assert decided == {"welcome": 2, "already": 1, "not_recognised": 1, "spoof": 1, "cannot_record": 1}
    assert found[("kiosk_punches_total", ())] == 2  # a welcome is a punch recorded; "already" is not


def test_every_decision_kind_shows_at_zero_before_the_first(tmp_path):
    found = samples(scrape(KioskMetrics(Status(), tmp_path, usage=free_disk)))
    decided = {labels[0][1]: value for (name, labels), value in found.items() if name == "kiosk_decisions_total"}
    assert decided == {"welcome": 0, "already": 0, "not_recognised": 0, "spoof": 0, "cannot_record": 0}
    assert found[("kiosk_frames_processed_total", ())] == 0 and found[("kiosk_punches_total", ())] == 0


def test_the_observer_never_raises_and_never_grows_a_series_per_odd_value(tmp_path):
    metrics = KioskMetrics(Status(), tmp_path, usage=free_disk)
    metrics.frame({"detect": "not a number"})  # type: ignore[dict-item]
    metrics.frame(None)  # type: ignore[arg-type]
    metrics.decision("a kind added later")
    metrics.decision("a kind added later")
    for n in range(MAX_STAGES + 10):
        metrics.frame({f"stage_{n}": 0.001, "Alice Example": 0.001})
    found = samples(scrape(metrics))
    assert found[("kiosk_decisions_total", (("kind", "other"),))] == 2
    stages = {dict(labels)["stage"] for (name, labels) in found if name == "kiosk_stage_seconds_count"}
    assert len(stages) <= MAX_STAGES + 1 and "other" in stages and "Alice Example" not in stages


def test_the_kiosks_state_is_read_at_each_scrape(tmp_path):
    now = [1000.0]
    status = Status(gallery_size=7)
    metrics = KioskMetrics(status, tmp_path, usage=free_disk, monotonic=lambda: now[0])
    status.camera.state, status.camera.fps = "ok (replay:test)", 14.6
    found = samples(scrape(metrics))
    assert found[("kiosk_camera_fps", ())] == pytest.approx(14.6)
    assert found[("kiosk_camera_up", ())] == 1 and found[("kiosk_camera_down_seconds", ())] == 0
    assert found[("kiosk_gallery_people", ())] == 7 and found[("kiosk_recording", ())] == 1
    assert found[("kiosk_data_disk_free_bytes", ())] == 40 * 2**30
    assert not any(name.startswith("kiosk_fleet") for name, _ in found)  # standalone: no outbox

    status.camera.state, status.camera.down_since = "unavailable: unplugged", 958.0
    status.recording_problem = RecordingProblem("the disk is full", disk_full=True)
    found = samples(scrape(metrics))
    assert found[("kiosk_camera_up", ())] == 0 and found[("kiosk_camera_down_seconds", ())] == 42
    assert found[("kiosk_recording", ())] == 0


def test_a_fleet_members_outbox_is_scraped_and_an_unreadable_disk_left_out(tmp_path):
    def no_disk(folder):
        raise OSError("gone")

    sync = {"state": "offline", "backlog": 12, "set_aside": 1}
    found = samples(scrape(KioskMetrics(Status(), tmp_path, lambda: sync, usage=no_disk)))
    assert found[("kiosk_fleet_outbox_backlog", ())] == 12 and found[("kiosk_fleet_set_aside", ())] == 1
    assert found[("kiosk_fleet_connected", ())] == 0
    assert ("kiosk_data_disk_free_bytes", ()) not in found  # unknown, not a made-up full disk
    sync.update(state="connected", backlog=0)
    found = samples(scrape(KioskMetrics(Status(), tmp_path, lambda: sync, usage=free_disk)))
    assert found[("kiosk_fleet_outbox_backlog", ())] == 0 and found[("kiosk_fleet_connected", ())] == 1


# ---- who may scrape ------------------------------------------------------------------------------


def make_app(tmp_path, *, metrics: MetricsSettings | None = None, web: WebSettings | None = None, encoder=None):
    status = Status(gallery_size=3)
    observer = KioskMetrics(status, tmp_path, usage=free_disk)
    config = Config(kiosk=KioskSettings(data_dir=tmp_path), metrics=metrics or MetricsSettings(), web=web or WebSettings())
    found = services(tmp_path / "kiosk.db", status, encoder, metrics=observer)
    return create_app(config, found, {"TESTING": True}), observer


def test_this_machine_may_scrape_without_a_login_or_a_form_token(tmp_path):
    app, _ = make_app(tmp_path)
    page = app.test_client().get("/metrics")
    assert page.status_code == 200 and page.mimetype == "text/plain"
    assert page.headers["Cache-Control"] == "no-store"
    assert samples(page.get_data(as_text=True))[("kiosk_gallery_people", ())] == 3


def test_everyone_else_gets_not_found(tmp_path):
    app, _ = make_app(tmp_path)
    client = app.test_client()
    assert client.get("/metrics", environ_base=OFFICE).status_code == 404
    assert client.post("/metrics").status_code == 405  # read only
    # From loopback, but passed on by a proxy nobody listed in web.trusted_proxies: not this machine.
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404


def test_the_prometheus_servers_of_scrape_from_may_scrape(tmp_path):
    app, _ = make_app(tmp_path, metrics=MetricsSettings(scrape_from=["10.0.5.0/24", "2001:db8::7"]))
    client = app.test_client()
    assert client.get("/metrics", environ_base=PROMETHEUS).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::ffff:10.0.5.9"}).status_code == 200  # IPv4 mapped
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "2001:db8::7"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.0.6.1"}).status_code == 404
    # A forged header from outside changes nothing: only a trusted proxy may name the client.
    assert client.get("/metrics", environ_base=OFFICE, headers={"X-Forwarded-For": "10.0.5.7"}).status_code == 404


def test_behind_a_trusted_proxy_the_client_it_names_is_judged(tmp_path):
    app, _ = make_app(
        tmp_path, metrics=MetricsSettings(scrape_from=["10.0.5.0/24"]), web=WebSettings(trusted_proxies=["192.168.1.1"])
    )
    client = app.test_client()
    proxy = {"REMOTE_ADDR": "192.168.1.1"}
    assert client.get("/metrics", environ_base=proxy, headers={"X-Forwarded-For": "10.0.5.7"}).status_code == 200
    assert client.get("/metrics", environ_base=proxy, headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    assert client.get("/metrics", environ_base=proxy, headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 404


def test_disabled_there_is_no_metrics_page_at_all(tmp_path):
    app, _ = make_app(tmp_path, metrics=MetricsSettings(enabled=False, scrape_from=["10.0.5.0/24"]))
    client = app.test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", environ_base=PROMETHEUS).status_code == 404


def test_a_scrape_writes_nothing_to_the_log(tmp_path, caplog):
    app, _ = make_app(tmp_path)
    with caplog.at_level(logging.INFO):
        assert app.test_client().get("/metrics").status_code == 200
    assert [r.getMessage() for r in caplog.records] == []


# ---- end to end: a visit at the door, then a scrape ----------------------------------------------


@pytest.mark.lfw
def test_a_visit_at_the_door_is_counted_by_stage_and_names_no_one(lfw, tmp_path):
    import cv2

    encoder = build_encoder(BUNDLED_MODEL)
    passwords.set_password(tmp_path, PASSWORD)
    app, metrics = make_app(tmp_path, encoder=encoder)
    admin = app.test_client()
    assert login(admin).status_code == 302
    assert enroll(admin, "Alice Example", photo_bytes("Colin_Powell", 1)).status_code == 302
    services = app.config["SERVICES"]
    frames = walk_up(cv2.imread(str(lfw_image("Colin_Powell", 2))), cv2.imread(str(lfw_image("Colin_Powell", 71))))
    clock = FakeClock()
    config = Config(  # the walk-up is a flat photo: liveness off
        kiosk=KioskSettings(data_dir=tmp_path), display=DisplaySettings(preview=False), liveness=LivenessSettings(mode="off")
    )
    loop = build_loop(
        config,
        services.app,
        services.status,
        lambda: FrameFeed(frames, clock),
        monotonic=clock.monotonic,
        observer=metrics,
    )
    loop.run()
    assert loop.finished and loop.error is None
    assert [entry.employee_id for entry in services.app.store.punch_log()] != []  # she was welcomed

    text = app.test_client().get("/metrics").get_data(as_text=True)
    found = samples(text)
    assert found[("kiosk_frames_processed_total", ())] == len(frames) == services.status.frames
    assert found[("kiosk_stage_seconds_count", (("stage", "detect"),))] == len(frames)  # every frame is searched
    embedded = found[("kiosk_stage_seconds_count", (("stage", "embed"),))]
    assert 0 < embedded < len(frames)  # only faces good enough are embedded (not the ones far off)
    assert found[("kiosk_stage_seconds_sum", (("stage", "embed"),))] > 0
    assert found[("kiosk_decisions_total", (("kind", "welcome"),))] == 1 and found[("kiosk_punches_total", ())] == 1
    assert found[("kiosk_gallery_people", ())] == 1
    assert "Alice" not in text and "Example" not in text and "Colin" not in text
    # Labels say which stage or kind, never whose: no name, no employee id.
    assert {label for _, labels in found for label, _ in labels} <= {"stage", "kind", "le"}


# ---- kiosk run: the composition root wires the metrics in ------------------------------------------


def test_kiosk_run_serves_its_metrics_to_this_machine(tmp_path):
    import os
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    port = 18763
    config = tmp_path / "kiosk.toml"
    config.write_text(f"[kiosk]\ndata_dir = '{tmp_path / 'data'}'\n[camera]\nsource = 'none'\n[web]\nport = {port}\n")
    env = dict(os.environ, NOTIFY_SOCKET="")
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "-c", str(config), "run"], env=env, stderr=subprocess.PIPE, text=True)
    text = None
    try:
        deadline = time.monotonic() + 60
        while text is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                    text = answer.read().decode()
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert text is not None, err[-3000:]
    assert proc.returncode == 0, err[-3000:]  # SIGTERM stops a kiosk without a camera cleanly, as systemd expects
    found = samples(text)
    assert found[("kiosk_frames_processed_total", ())] == 0 and found[("kiosk_camera_up", ())] == 0  # camera off
    assert found[("kiosk_gallery_people", ())] == 0 and found[("kiosk_recording", ())] == 1
    assert found[("kiosk_data_disk_free_bytes", ())] > 0
    assert ("kiosk_decisions_total", (("kind", "welcome"),)) in found
