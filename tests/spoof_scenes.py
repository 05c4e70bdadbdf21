"""Synthetic liveness scenes made from one photo of a person (for the liveness
tests and benchmarks; no public spoof data set allows commercial use).

- :func:`genuine_walk_up`: the photo textured onto its own 468-point face mesh
  (depth from the mesh's z), rendered turning its head while approaching;
- :func:`print_attack`: the photo printed on a sheet with a white border, moved,
  tilted in 3D and approaching, with paper's contrast and a little blur;
- :func:`screen_attack`: the photo on a phone (black rounded bezel), brighter,
  with a faint moire from the screen's subpixel stripes and a glare.

Each returns BGR frames of ``FRAME_SIZE`` at ``FPS``, the same for the same seed.
The genuine head is rendered by per-triangle affine warps, far triangles first
(painter's algorithm); the flat ones are one perspective warp of the sheet.
"""

from __future__ import annotations

import cv2
import numpy as np

FRAME_SIZE = (640, 480)  # width, height
FPS = 15
SECONDS = 2.5
# MediaPipe's face oval, in order round the face (FACEMESH_FACE_OVAL).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)  # fmt: skip
# The head beyond the face oval (hair, ears, jaw): rings further out, each curving further back,
# as (radius over the oval's, depth behind the oval in face widths).
HEAD_RINGS = ((1.06, 0.03), (1.13, 0.07), (1.21, 0.12), (1.3, 0.18), (1.4, 0.25), (1.5, 0.32))
# How far the nose tip stands out of the face's outline, in face widths, on MediaPipe's canonical
# face model (canonical_face_model.obj: about 10 cm on a face 15.5 cm wide). The landmark model's z
# on LFW photos is about a third deeper, which would make the rendered heads more solid than heads are.
HEAD_DEPTH = 0.65
DEPTH_SMOOTHING = 5  # rounds of Laplacian smoothing of the depth over the mesh
POINT_COUNT = 468
FACE_WIDTHS_AWAY = (7.0, 3.5)  # camera distance at the start and end of a walk-up, in face widths
FACE_WIDTH_PX = (85.0, 170.0)  # the face's width in the frame at the start and end
CAMERA_NOISE = 2.0  # grey levels of sensor noise on every frame
PAPER = dict(contrast=0.72, white=238.0, blur=0.9, border=0.14)  # ink on paper: lifted blacks, soft dots
# A backlit phone: brighter, subpixel stripes (fraction dimmed), a glare (grey levels at its
# centre, sliding this fraction of the phone per degree of tilt), a thin bezel, rounded corners.
# The photo is zoomed to a square this many face widths across.
SCREEN = dict(
    gain=1.18, lift=18.0, stripes=0.12, glare=90.0, glare_slide=0.01, bezel=0.04, corner=0.12, dark=12.0, upscale=3, zoom=1.8
)
PHONE_FACE_WIDTH_PX = (70.0, 125.0)  # a phone is held closer to the camera than a face comes, so its face stays smaller
PHONE_ASPECT = 19.5 / 9  # height over width of a phone's screen


def background(rng: np.random.Generator) -> np.ndarray:
    """A plain room: a wall with a vertical light gradient, a door and a poster."""
    w, h = FRAME_SIZE
    wall = rng.uniform(90, 170, 3)
    shade = np.linspace(1.1, 0.8, h)[:, None, None]
    frame = np.clip(wall[None, None, :] * shade * np.ones((h, w, 1)), 0, 255).astype(np.uint8)
    door_x = int(rng.uniform(0, w * 0.25))
    cv2.rectangle(frame, (door_x, int(h * 0.15)), (door_x + int(w * 0.18), h), [int(v) for v in rng.uniform(40, 120, 3)], -1)
    px, py = int(rng.uniform(w * 0.65, w * 0.85)), int(rng.uniform(h * 0.1, h * 0.3))
    cv2.rectangle(frame, (px, py), (px + 70, py + 95), [int(v) for v in rng.uniform(60, 230, 3)], -1)
    return frame


def _camera(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What every scene shares: the lens's slight softness and sensor noise."""
    frame = cv2.GaussianBlur(frame, (0, 0), 0.6).astype(np.float32)
    return np.clip(frame + rng.normal(0, CAMERA_NOISE, frame.shape), 0, 255).astype(np.uint8)


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Degrees about y (turning), x (nodding) and z (tilting the head), image axes (y down)."""
    a, b, c = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ rx @ ry


def _motion(rng: np.random.Generator, seconds: float, yaw_range, pitch_range, widths=FACE_WIDTH_PX) -> list[dict]:
    """Per frame: a pose swinging from one side to the other, a drift across the
    picture and the approach (distance in face widths, face width in pixels)."""
    n = max(2, round(seconds * FPS))
    t = np.linspace(0, 1, n)
    yaw_amp, pitch_amp = rng.uniform(*yaw_range), rng.uniform(*pitch_range)
    side, phase = rng.choice([-1, 1]), rng.uniform(0, 2 * np.pi)
    start = np.array([rng.uniform(0.35, 0.65) * FRAME_SIZE[0], rng.uniform(0.4, 0.55) * FRAME_SIZE[1]])
    end = np.array([rng.uniform(0.4, 0.6) * FRAME_SIZE[0], rng.uniform(0.4, 0.5) * FRAME_SIZE[1]])
    return [
        dict(
            yaw=side * yaw_amp * np.cos(np.pi * s),  # one full swing, side to side
            pitch=pitch_amp * np.sin(2 * np.pi * s + phase),
            roll=3.0 * np.sin(np.pi * s + phase),
            away=np.interp(s, [0, 1], FACE_WIDTHS_AWAY),
            width=np.interp(s, [0, 1], widths),
            centre=start + (end - start) * s,
        )
        for s in t
    ]


def _project(points3: np.ndarray, pose: dict, face_width: float) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 3) about the pivot, in source pixels, to frame pixels under the
    pose (perspective from ``away`` face widths) and their depth."""
    turned = points3 @ _rotation(pose["yaw"], pose["pitch"], pose["roll"]).T
    distance = pose["away"] * face_width
    depth = distance + turned[:, 2]
    # The focal length that makes the face ``width`` pixels wide at the pivot's distance.
    focal = pose["width"] / face_width * distance
    return turned[:, :2] * (focal / depth)[:, None] + pose["centre"], depth


# ---- a head: the photo on its own face mesh ------------------------------------------------------


def head_model(photo: np.ndarray, mesh_points: np.ndarray):
    """The photo's face as a textured surface: vertices (N, 3) in photo pixels
    (the mesh plus rings of head round it), triangles (M, 3), the pivot (3,)
    and the face width."""
    face_width = face_width_of(mesh_points)
    mesh_points = _with_depth(mesh_points[:, :3], face_width)
    oval = mesh_points[list(FACE_OVAL)]
    centre = oval[:, :2].mean(0)
    rings = []
    for radius, back in HEAD_RINGS:
        xy = centre + (oval[:, :2] - centre) * radius
        rings.append(np.column_stack([xy, oval[:, 2] + back * face_width]))
    vertices = np.vstack([mesh_points, *rings])
    h, w = photo.shape[:2]
    inside = (vertices[:, 0] >= 0) & (vertices[:, 0] < w - 1) & (vertices[:, 1] >= 0) & (vertices[:, 1] < h - 1)
    vertices = vertices[inside]
    subdiv = cv2.Subdiv2D((0, 0, w, h))
    for x, y in vertices[:, :2]:
        subdiv.insert((float(x), float(y)))
    # Subdiv2D keeps its points in float32 and hands back coordinates, not indices.
    lookup = {(float(x), float(y)): i for i, (x, y) in enumerate(vertices[:, :2].astype(np.float32))}
    triangles = []
    for t in subdiv.getTriangleList():
        corners = [lookup.get((float(t[k]), float(t[k + 1]))) for k in (0, 2, 4)]
        if None not in corners:  # triangles touching Subdiv2D's outer helper vertices are dropped
            triangles.append(corners)
    triangles = np.array(triangles, dtype=np.int32)
    # The model's depth is uneven from point to point: smoothed, a turning cheek does not fold
    # over itself into saw teeth; then stretched back to a head's depth.
    vertices[:, 2] = _smoothed(vertices[:, 2], triangles, DEPTH_SMOOTHING)
    mesh_count = int(inside[:POINT_COUNT].sum())
    vertices[:mesh_count] = _with_depth(vertices[:mesh_count], face_width, oval_of=inside[:POINT_COUNT])
    # The head turns about a point behind the face, about where the ears are.
    pivot = np.array([centre[0], centre[1], float(vertices[:mesh_count, 2].max())])
    return vertices, triangles, pivot, face_width


def _with_depth(points: np.ndarray, face_width: float, oval_of=None) -> np.ndarray:
    """``points`` with z scaled about the face's outline so the nose stands HEAD_DEPTH face widths out."""
    oval = np.zeros(POINT_COUNT, bool)
    oval[list(FACE_OVAL)] = True
    oval = oval if oval_of is None else oval[oval_of]
    back = float(points[oval, 2].max())
    depth = back - float(points[:, 2].min())
    out = points.copy()
    out[:, 2] = back + (points[:, 2] - back) * HEAD_DEPTH * face_width / max(depth, np.finfo(float).tiny)
    return out


def _smoothed(values: np.ndarray, triangles: np.ndarray, rounds: int) -> np.ndarray:
    """Each value moved halfway to its neighbours' mean, ``rounds`` times (Laplacian smoothing)."""
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    edges = np.concatenate([edges, edges[:, ::-1]])
    count = np.bincount(edges[:, 0], minlength=len(values))
    for _ in range(rounds):
        total = np.bincount(edges[:, 0], weights=values[edges[:, 1]], minlength=len(values))
        values = np.where(count > 0, 0.5 * values + 0.5 * total / np.maximum(count, 1), values)
    return values


def _warp_triangle(src_img: np.ndarray, dst: np.ndarray, src_tri: np.ndarray, dst_tri: np.ndarray) -> None:
    x, y, w, h = cv2.boundingRect(np.round(dst_tri).astype(np.float32))
    x0, y0 = max(x - 1, 0), max(y - 1, 0)
    x1, y1 = min(x + w + 1, dst.shape[1]), min(y + h + 1, dst.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    sx, sy, sw, sh = cv2.boundingRect(np.round(src_tri).astype(np.float32))
    sx1, sy1 = min(sx + sw + 2, src_img.shape[1]), min(sy + sh + 2, src_img.shape[0])
    patch = src_img[sy:sy1, sx:sx1]
    if patch.size == 0:
        return
    matrix = cv2.getAffineTransform((src_tri - [sx, sy]).astype(np.float32), (dst_tri - [x0, y0]).astype(np.float32))
    warped = cv2.warpAffine(patch, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    corners = np.round(dst_tri - [x0, y0]).astype(np.int32)
    cv2.fillConvexPoly(mask, corners, 1)
    cv2.polylines(mask, [corners], True, 1)  # one pixel over the edge, so neighbours leave no cracks
    region = dst[y0:y1, x0:x1]
    region[mask > 0] = warped[mask > 0]


def _signed_areas(xy: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = xy[triangles[:, 0]], xy[triangles[:, 1]], xy[triangles[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def genuine_walk_up(
    photo: np.ndarray, mesh_points: np.ndarray, seed: int, seconds: float = SECONDS, yaw_range=(20, 30)
) -> list[np.ndarray]:
    """A real head (the photo on its mesh) turning each way by ``yaw_range``
    degrees, nodding a little and approaching the camera."""
    rng = np.random.default_rng(seed)
    vertices, triangles, pivot, face_width = head_model(photo, mesh_points)
    room = background(rng)
    frames = []
    for pose in _motion(rng, seconds, yaw_range=yaw_range, pitch_range=(4, 8)):
        xy, depth = _project(vertices - pivot, pose, face_width)
        frame = room.copy()
        # A triangle whose corners turn the other way round than in the photo faces away: unseen.
        facing = _signed_areas(xy, triangles) * _signed_areas(vertices[:, :2], triangles) > 0
        seen = triangles[facing]
        for tri in seen[np.argsort(-depth[seen].mean(1))]:  # far triangles first
            _warp_triangle(photo, frame, vertices[tri, :2], xy[tri])
        frames.append(_camera(frame, rng))
    return frames


# ---- flat attacks: a sheet of paper, a phone -----------------------------------------------------


def _sheet_frames(sheet_at, mask: np.ndarray, face_width: float, face_centre, rng, seconds: float, widths=FACE_WIDTH_PX):
    """A flat sheet moved, tilted and approaching: ``sheet_at(pose)`` is its BGR
    picture in that pose (a glare moves with the light's angle), ``mask`` where it is."""
    room = background(rng)
    h, w = mask.shape
    corners = np.array([[0, 0, 0], [w, 0, 0], [w, h, 0], [0, h, 0]], float) - [*face_centre, 0]
    frames = []
    for pose in _motion(rng, seconds, yaw_range=(15, 30), pitch_range=(8, 15), widths=widths):
        xy, _ = _project(corners, pose, face_width)
        matrix = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), xy.astype(np.float32))
        warped = cv2.warpPerspective(sheet_at(pose), matrix, FRAME_SIZE, flags=cv2.INTER_LINEAR)
        alpha = cv2.warpPerspective(mask, matrix, FRAME_SIZE, flags=cv2.INTER_LINEAR).astype(np.float32)[:, :, None] / 255
        frame = room * (1 - alpha) + warped * alpha
        frames.append(_camera(np.clip(frame, 0, 255).astype(np.uint8), rng))
    return frames


def print_attack(photo: np.ndarray, mesh_points: np.ndarray, seed: int, seconds: float = SECONDS) -> list[np.ndarray]:
    """The photo printed on paper with a white border, held up, tilted and brought
    closer; ``mesh_points``, the photo's mesh, sets the sheet's scale."""
    face_width = face_width_of(mesh_points)
    rng = np.random.default_rng(seed)
    ink = cv2.GaussianBlur(photo, (0, 0), PAPER["blur"]).astype(np.float32)
    paper = PAPER["white"] * (1 - PAPER["contrast"]) + ink * PAPER["contrast"] * PAPER["white"] / 255
    h, w = photo.shape[:2]
    border = round(PAPER["border"] * max(h, w))
    sheet = np.full((h + 2 * border, w + 2 * border, 3), PAPER["white"], np.float32)
    sheet[border : border + h, border : border + w] = paper
    sheet = np.clip(sheet * rng.uniform(0.95, 1.0, 3), 0, 255).astype(np.uint8)  # the room's light is not quite white
    mask = np.full(sheet.shape[:2], 255, np.uint8)
    return _sheet_frames(lambda pose: sheet, mask, face_width, (border + w / 2, border + h / 2), rng, seconds)


def _zoomed(photo: np.ndarray, centre, side: float) -> np.ndarray:
    """A square of ``side`` pixels about ``centre``, as someone zooms into a face on a phone."""
    half = side / 2
    x0, y0 = (np.asarray(centre) - half).round().astype(int)
    n = round(side)
    return cv2.copyMakeBorder(photo, n, n, n, n, cv2.BORDER_REPLICATE)[y0 + n : y0 + 2 * n, x0 + n : x0 + 2 * n]


def _phone_outline(height: int, width: int, radius: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    cv2.rectangle(mask, (radius, 0), (width - radius, height), 255, -1)
    cv2.rectangle(mask, (0, radius), (width, height - radius), 255, -1)
    for cx, cy in ((radius, radius), (width - radius, radius), (radius, height - radius), (width - radius, height - radius)):
        cv2.circle(mask, (cx, cy), radius, 255, -1)
    return mask


def screen_attack(photo: np.ndarray, mesh_points: np.ndarray, seed: int, seconds: float = SECONDS) -> list[np.ndarray]:
    """The photo on a phone, zoomed to the face: a black rounded bezel, a bright
    backlit image with the subpixel stripes that alias into moire, and a glare
    that slides as it tilts. ``mesh_points``: the photo's mesh."""
    rng = np.random.default_rng(seed)
    face_width = face_width_of(mesh_points)
    photo = _zoomed(photo, mesh_points[list(FACE_OVAL), :2].mean(0), SCREEN["zoom"] * face_width)
    k = SCREEN["upscale"]  # the screen is drawn finer than the camera sees it, so its stripes alias
    h, w = photo.shape[:2]
    image = cv2.resize(photo, (w * k, h * k), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    image = image * SCREEN["gain"] + SCREEN["lift"]
    stripes = np.full((1, w * k, 3), 1 - SCREEN["stripes"], np.float32)
    for channel in range(3):  # B, G and R columns side by side
        stripes[0, np.arange(w * k) % 3 == channel, channel] = 1.0
    screen_h = round(w * k * PHONE_ASPECT)
    top, bezel = (screen_h - h * k) // 2, round(SCREEN["bezel"] * w * k)
    phone = np.zeros((screen_h + 2 * bezel, w * k + 2 * bezel, 3), np.float32)
    phone[bezel : bezel + screen_h, bezel : bezel + w * k] = SCREEN["dark"]  # the app's black around the photo
    phone[bezel + top : bezel + top + h * k, bezel : bezel + w * k] = image * stripes
    ph, pw = phone.shape[:2]
    glass = np.zeros((ph, pw, 1), np.float32)
    glass[bezel : bezel + screen_h, bezel : bezel + w * k] = 1
    ys, xs = np.mgrid[0:ph, 0:pw].astype(np.float32)
    glare_x, glare_y = rng.uniform(0.3, 0.7) * pw, rng.uniform(0.25, 0.45) * ph

    def phone_at(pose):
        # A reflection of a lamp: it slides across the glass as the phone turns.
        x = glare_x + pose["yaw"] * SCREEN["glare_slide"] * pw
        y = glare_y + pose["pitch"] * SCREEN["glare_slide"] * ph
        spot = np.exp(-(((xs - x) / (0.25 * pw)) ** 2 + ((ys - y) / (0.1 * ph)) ** 2))[:, :, None]
        return np.clip(phone + SCREEN["glare"] * spot * glass, 0, 255).astype(np.uint8)

    mask = _phone_outline(ph, pw, round(SCREEN["corner"] * pw))
    centre = (bezel + w * k / 2, bezel + top + h * k / 2)
    return _sheet_frames(phone_at, mask, face_width * k, centre, rng, seconds, widths=PHONE_FACE_WIDTH_PX)


# ---- from a photo to all three scenes ----------------------------------------------------------------


def face_width_of(mesh_points: np.ndarray) -> float:
    """The face's width (across the face oval) in the points' pixels."""
    return float(np.ptp(mesh_points[list(FACE_OVAL), 0]))


def photo_mesh(photo: np.ndarray, detector, face_mesh) -> np.ndarray | None:
    """The mesh points of the largest face the kiosk's detector finds in ``photo``."""
    faces = detector.detect(photo)
    if not faces:
        return None
    return face_mesh.run(photo, max(faces, key=lambda f: f.width)).points


def all_scenes(photo: np.ndarray, mesh_points: np.ndarray, seed: int, seconds: float = SECONDS) -> dict[str, list[np.ndarray]]:
    """The three scenes of one photo: "genuine", "print" and "screen"."""
    return {
        "genuine": genuine_walk_up(photo, mesh_points, seed, seconds),
        "print": print_attack(photo, mesh_points, seed + 1, seconds),
        "screen": screen_attack(photo, mesh_points, seed + 2, seconds),
    }
