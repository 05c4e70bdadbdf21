"""Every admin route through Flask's test client, bad inputs included."""

import io
import re

import cv2
import numpy as np
import pytest
from PIL import Image

from kiosk.composition import build_encoder
from kiosk.config import BUNDLED_MODEL, Config, KioskSettings, RecognitionSettings
from kiosk.status import Status
from kiosk.store import Store
from kiosk.web import create_app, passwords
from tests.helpers import PASSWORD, enroll, form_token, lfw_image, login, make_loop, photo_bytes, punch, services, token_of


@pytest.fixture(scope="module")
def encoder(detector):
    return build_encoder(BUNDLED_MODEL)


@pytest.fixture
def app(tmp_path, encoder):
    passwords.set_password(tmp_path, PASSWORD)
    config = Config(kiosk=KioskSettings(data_dir=tmp_path))
    return create_app(config, services(tmp_path / "kiosk.db", Status(), encoder, capture=lambda: None), {"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin(client):
    assert login(client).status_code == 302
    return client


def test_without_a_password_the_pages_explain_how_to_set_one(tmp_path, encoder):
    app = create_app(
        Config(kiosk=KioskSettings(data_dir=tmp_path)), services(tmp_path / "k.db", Status(), encoder), {"TESTING": True}
    )
    page = app.test_client().get("/admin/")
    assert page.status_code == 503 and b"kiosk admin set-password" in page.data
    assert app.test_client().get("/admin/login").status_code == 503


def test_admin_pages_need_login(client):
    for path in ("/admin/", "/admin/attendance", "/admin/attendance.csv", "/admin/status", "/admin/employees/1/photo.png"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_wrong_password_then_rate_limit(client):
    for _ in range(5):
        assert login(client, "wrong password!").status_code == 401
    blocked = login(client)  # even the right one, while blocked
    assert blocked.status_code == 429 and b"Too many failed attempts" in blocked.data


def test_login_sets_an_expiring_session_and_logout_ends_it(app, client):
    response = login(client)
    assert response.status_code == 302
    assert "Expires=" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
    assert app.permanent_session_lifetime.total_seconds() == 30 * 60
    assert client.get("/admin/").status_code == 200
    client.post("/admin/logout", data={"csrf_token": form_token(client)})
    assert client.get("/admin/").status_code == 302


@pytest.mark.lfw
def test_forms_without_or_with_a_forged_csrf_token_are_refused(admin):
    data = {"name": "Eve", "photo": (io.BytesIO(photo_bytes("Colin_Powell")), "a.jpg")}
    assert admin.post("/admin/enroll", data=data, content_type="multipart/form-data").status_code == 400
    data = {"csrf_token": "forged", "name": "Eve", "photo": (io.BytesIO(photo_bytes("Colin_Powell")), "a.jpg")}
    response = admin.post("/admin/enroll", data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and b"Form expired" in response.data


@pytest.mark.lfw
def test_enroll_list_thumbnail_rename_and_remove(lfw, admin, tmp_path):
    response = enroll(admin, "<b>Colin</b> Powell", photo_bytes("Colin_Powell", 2))
    assert response.status_code == 302
    page = admin.get("/admin/").get_data(as_text=True)
    assert "&lt;b&gt;Colin&lt;/b&gt; Powell" in page and "<b>Colin</b>" not in page
    employee_id = Store(tmp_path / "kiosk.db").employees()[0].id
    thumb = admin.get(f"/admin/employees/{employee_id}/photo.png")
    assert thumb.mimetype == "image/png" and Image.open(io.BytesIO(thumb.data)).size == (256, 256)
    token = form_token(admin, f"/admin/employees/{employee_id}")
    admin.post(f"/admin/employees/{employee_id}/rename", data={"csrf_token": token, "name": "Colin Powell"})
    assert Store(tmp_path / "kiosk.db").get_employee(employee_id).name == "Colin Powell"
    reenrolled = admin.post(
        f"/admin/employees/{employee_id}/photo",
        data={"csrf_token": token, "photo": (io.BytesIO(photo_bytes("Colin_Powell", 2)), "b.jpg")},
        content_type="multipart/form-data",
    )
    assert reenrolled.status_code == 302
    asked = admin.post(f"/admin/employees/{employee_id}/remove", data={"csrf_token": token})
    assert asked.status_code == 200 and b"Remove Colin Powell?" in asked.data and b"is kept for timesheets" in asked.data
    assert len(Store(tmp_path / "kiosk.db").employees()) == 1  # nothing removed before the confirmation
    removed = admin.post(
        f"/admin/employees/{employee_id}/remove", data={"csrf_token": token, "confirm": "yes"}, follow_redirects=True
    )
    assert b"removed" in removed.data and Store(tmp_path / "kiosk.db").employees() == []


@pytest.mark.lfw
def test_removing_with_the_history_says_so_before_deleting_it(lfw, admin, tmp_path):
    import datetime as dt

    enroll(admin, "Colin Powell", photo_bytes("Colin_Powell", 2))
    store = Store(tmp_path / "kiosk.db")
    employee_id = store.employees()[0].id
    punch(store, employee_id, dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC))
    token = form_token(admin, f"/admin/employees/{employee_id}")
    asked = admin.post(f"/admin/employees/{employee_id}/remove", data={"csrf_token": token, "purge": "y"})
    assert b"deleted too" in asked.data and b"1 entry" in asked.data and len(store.punch_log()) == 1
    admin.post(f"/admin/employees/{employee_id}/remove", data={"csrf_token": token, "purge": "y", "confirm": "yes"})
    assert store.punch_log() == [] and store.employees() == []


@pytest.mark.parametrize(
    "data,filename,status,message",
    [
        (b"just some text, not a photo", "notes.jpg", 422, b"not an image"),
        (b"", "empty.jpg", 422, b"The file is empty"),
    ],
)
def test_bad_files_are_refused_with_a_reason(admin, data, filename, status, message):
    response = enroll(admin, "Eve", data, filename)
    assert response.status_code == status and message in response.data


@pytest.mark.lfw
def test_corrupt_jpeg(lfw, admin):
    data = photo_bytes("Colin_Powell")
    response = enroll(admin, "Eve", data[: len(data) // 3])
    assert response.status_code == 422 and b"damaged or incomplete" in response.data


def test_a_50_mb_upload_is_refused(admin):
    big = b"\xff\xd8" + b"\0" * (50 * 2**20)
    response = enroll(admin, "Eve", big)
    assert response.status_code == 413 and b"File too large" in response.data


def test_a_decompression_bomb_is_refused(admin):
    buf = io.BytesIO()
    Image.new("L", (12000, 12000)).save(buf, "PNG")
    assert len(buf.getvalue()) < 1_000_000
    response = enroll(admin, "Eve", buf.getvalue(), "bomb.png")
    assert response.status_code == 422 and b"too large" in response.data


@pytest.mark.lfw
def test_photo_with_two_faces_or_none(lfw, admin):
    a = cv2.imread(str(lfw_image("Colin_Powell", 2)))
    b = cv2.imread(str(lfw_image("Tony_Blair", 2)))
    two = cv2.imencode(".jpg", np.hstack([a, b]))[1].tobytes()
    response = enroll(admin, "Two", two)
    assert response.status_code == 422 and b"several faces of similar size" in response.data
    blank = cv2.imencode(".jpg", np.full((300, 300, 3), 200, np.uint8))[1].tobytes()
    assert b"No face found" in enroll(admin, "Nobody", blank).data


@pytest.mark.lfw
def test_lookalike_warning_shows_both_and_can_be_confirmed(lfw, admin, tmp_path):
    assert enroll(admin, "Colin Powell", photo_bytes("Colin_Powell", 2)).status_code == 302
    warning = enroll(admin, "Colin again", photo_bytes("Colin_Powell", 2))
    html = warning.get_data(as_text=True)
    assert warning.status_code == 409 and "Is this someone already enrolled?" in html
    new_photo = re.search(r'src="(/admin/pending/[^"]+\.png)"', html).group(1)
    assert admin.get(new_photo).mimetype == "image/png"
    token = re.search(r'<input[^>]*name="token"[^>]*value="([^"]+)"', html).group(1)
    admin.post("/admin/enroll/confirm", data={"csrf_token": token_of(html), "token": token})
    assert len(Store(tmp_path / "kiosk.db").employees()) == 2
    again = admin.post("/admin/enroll/confirm", data={"csrf_token": token_of(html), "token": token}, follow_redirects=True)
    assert b"expired" in again.data  # a token works once


def test_unknown_ids_are_404(admin):
    token = form_token(admin)
    for response in (
        admin.get("/admin/employees/999"),
        admin.post("/admin/employees/999/remove", data={"csrf_token": token}),
        admin.get("/admin/employees/999/photo.png"),
    ):
        assert response.status_code == 404
    assert b"No employee with id 999" in admin.get("/admin/employees/999").data


def test_status_page(admin):
    page = admin.get("/admin/status")
    assert page.status_code == 200 and b"Enrolled people" in page.data and b"Free disk" in page.data


def test_capture_without_a_camera_frame_says_so(admin):
    response = admin.post("/admin/capture", data={"csrf_token": form_token(admin), "name": "Alice"})
    assert response.status_code == 422 and b"camera has no picture" in response.data


@pytest.mark.lfw
def test_web_changes_reach_the_running_loop(lfw, app, admin, encoder, tmp_path):
    from kiosk.config import AttendanceSettings, DisplaySettings

    now = [0.0]
    loop = make_loop(
        Store(tmp_path / "kiosk.db"),
        encoder,
        recognition=RecognitionSettings(evidence_frames=1, decide_frames=1, learn_from_visits=False),
        rules=AttendanceSettings(cooldown_seconds=0),
        display=DisplaySettings(preview=False),
        kiosk_id="k",
        status=Status(),
        monotonic=lambda: now[0],
    )
    frame = cv2.imread(str(lfw_image("Colin_Powell", 2)))

    def visit():
        now[0] += 10  # a new visit each time
        loop.process(frame)

    visit()
    assert loop.app.store.punch_log() == []
    enroll(admin, "Colin Powell", photo_bytes("Colin_Powell", 2))
    visit()
    assert [r.name for r in loop.app.store.punch_log()] == ["Colin Powell"]
    employee_id = loop.app.store.employees()[0].id
    admin.post(f"/admin/employees/{employee_id}/remove", data={"csrf_token": form_token(admin), "confirm": "yes"})
    visit()
    assert len(loop.app.store.punch_log()) == 1 and loop.status.gallery_size == 0


@pytest.mark.lfw
def test_more_photos_of_a_person_their_pictures_listed_and_removed(lfw, admin):
    enroll(admin, "Colin Powell", photo_bytes("Colin_Powell", 1))
    page = admin.get("/admin/employees/1").get_data(as_text=True)
    assert "More pictures" in page and "None yet." in page

    def add(person, number):
        token = token_of(admin.get("/admin/employees/1").get_data(as_text=True))
        data = {"csrf_token": token, "photo": (io.BytesIO(photo_bytes(person, number)), "more.jpg")}
        admin.post("/admin/employees/1/templates", data=data, content_type="multipart/form-data")
        return admin.get("/admin/employees/1").get_data(as_text=True)

    page = add("Colin_Powell", 3)
    assert "Photo added for Colin Powell." in page and "added photo" in page
    picture = re.search(r'src="(/admin/templates/(\d+)\.png)"', page)
    shown = admin.get(picture.group(1))
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    assert Image.open(io.BytesIO(shown.data)).size == (256, 256)
    refused = add("Tony_Blair", 1)
    assert "does not look enough like Colin Powell" in refused and refused.count("added photo") == 1
    token = token_of(admin.get("/admin/employees/1").get_data(as_text=True))
    gone = admin.post(
        f"/admin/employees/1/templates/{picture.group(2)}/remove", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Picture removed." in gone.get_data(as_text=True) and "None yet." in gone.get_data(as_text=True)
    assert admin.get(picture.group(1)).status_code == 404
    assert admin.post("/admin/employees/1/templates/999/remove", data={"csrf_token": token}).status_code == 404
