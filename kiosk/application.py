"""The kiosk's operations in one place: enrolling (with the look-alike
check), changing and removing people, recording a visit's punch,
corrections and the timesheet queries.

The CLI, the web pages and the camera loop call these; none of them writes
to the store by itself. The time zone, the work day's start and the
cooldown are applied here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kiosk import attendance, templates
from kiosk.attendance import DayRecord, Entry
from kiosk.config import AttendanceSettings
from kiosk.enrollment import Lookalike, Reference, decode_photo, lookalikes, make_reference, reembed, reference_image
from kiosk.punch_photos import PunchPhotos, face_photo
from kiosk.recognition import FaceEncoder, FrameResult, Recognizer, Thresholds
from kiosk.staff_records import StaffRecords
from kiosk.store import Store, UnknownEmployee
from kiosk.store_rows import Employee, Gallery, LogRow, StoredReference
from kiosk.template_store import DOOR, PHOTO, Template, TemplateStore
from kiosk.templates import BestFace
from kiosk.visits import Recognised


class LooksLikeSomeone(ValueError):
    """The face would be recognised as people already enrolled; enrolling needs ``force``."""

    def __init__(self, similar: list[Lookalike]):
        self.similar = similar
        super().__init__(
            "this face would be recognised as "
            + ", ".join(f"{s.name} (#{s.employee_id}, distance {s.distance:.3f})" for s in similar)
        )


@dataclass(frozen=True)
class Enrolled:
    employee_id: int
    name: str
    note: str | None = None  # e.g. which of several faces in the photo was used


@dataclass(frozen=True)
class LookalikePair:
    first: int
    second: int
    distance: float


@dataclass(frozen=True)
class VisitOutcome:
    """What a recognised visit recorded: a punch (``entry``), or nothing
    because of the ``earlier`` punch within the cooldown."""

    name: str
    entry: Entry | None
    earlier: Entry | None


class Application:
    """The operations of one kiosk (or of a fleet's admin server), built once
    by the composition root from the config. ``store`` is a :class:`Store` or
    a fleet member's store; ``recognizer`` may be None where nothing is
    recognised (pages that never see a face)."""

    def __init__(
        self,
        store: Store,
        recognizer: Recognizer | None,
        rules: AttendanceSettings,
        kiosk_id: str,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.store, self.recognizer, self.rules, self.kiosk_id = store, recognizer, rules, kiosk_id
        self.zone = rules.zone()
        self.clock = clock or (lambda: dt.datetime.now(self.zone))
        self.templates = TemplateStore(store)
        self.photos = PunchPhotos(store)
        self.staff = StaffRecords(store, self.timesheet, self.zone)  # payroll details, the staff file, payroll exports
        self._pruned: dt.datetime | None = None  # when old punch photos were last deleted

    @property
    def encoder(self) -> FaceEncoder | None:
        return self.recognizer.encoder if self.recognizer else None

    @property
    def model_version(self) -> str | None:
        """The running model's version (None where nothing is recognised)."""
        return self.encoder.embedder.contract.version if self.encoder else None

    # -- the gallery and recognition ---------------------------------------------------------------
    def gallery(self) -> Gallery:
        """Everyone's pictures for the running model; with ``match_templates = "mean"``, one mean per person."""
        gallery = self.store.gallery(self.model_version)
        return gallery.means() if self.recognizer and self.recognizer.settings.match_templates == "mean" else gallery

    def thresholds(self, gallery: Gallery | None = None) -> Thresholds:
        """The thresholds for one photo compared with ``gallery`` (default: today's): identify, look-alikes."""
        return self.recognizer.thresholds(self.recognizer.comparisons(self.gallery() if gallery is None else gallery))

    def door_thresholds(self, gallery: Gallery | None = None) -> Thresholds:
        """The thresholds the door decides a visit with (its faces fused, unless it votes on single frames)."""
        size = self.recognizer.comparisons(self.gallery() if gallery is None else gallery)
        return self.recognizer.thresholds(size, fused=self.recognizer.settings.decide_by == "fused")

    def identify(self, image_bgr: np.ndarray, gallery: Gallery | None = None) -> FrameResult:
        return self.recognizer.recognize(image_bgr, self.gallery() if gallery is None else gallery)

    def reembed(self) -> tuple[int, list[int]]:
        """Bring everyone, and their templates, to the running model (see :func:`kiosk.enrollment.reembed`)."""
        redone, need_photo = reembed(self.store, self.encoder)
        for template_id, image, face in self.templates.stale(self.model_version):
            crop, embedding = self.encoder.embed_face(image, face)
            self.templates.update_embedding(template_id, crop, embedding, self.model_version)
        return redone, need_photo

    def stale_references(self) -> list[int]:
        return self.store.stale_references(self.model_version)

    # -- people --------------------------------------------------------------------------------------
    def reference_from_photo(self, data: bytes) -> Reference:
        return make_reference(self.encoder, decode_photo(data))

    def reference_from_frame(self, frame_bgr: np.ndarray) -> Reference:
        return make_reference(self.encoder, frame_bgr)

    def lookalikes(self, ref: Reference, replacing: int | None = None) -> list[Lookalike]:
        """People this face would be recognised as, with the threshold of the
        gallery as it will be after the change (the whole fleet's, in a fleet)."""
        gallery = self.store.latest_gallery(self.model_version)
        threshold = self.recognizer.thresholds(self.recognizer.comparisons(gallery) + (replacing is None)).good
        return lookalikes(gallery, ref.embedding, threshold, exclude=replacing)

    def lookalike_pairs(self) -> list[LookalikePair]:
        """Enrolled people whose enrolment photos are within today's threshold of each other."""
        gallery = self.store.gallery(self.model_version)
        if len(gallery) < 2:
            return []
        references = gallery.references()
        distance = 1.0 - references @ references.T
        threshold = self.thresholds(gallery).good
        first, second = np.nonzero(np.triu(distance <= threshold, k=1))
        pairs = [
            LookalikePair(int(gallery.ids[a]), int(gallery.ids[b]), float(distance[a, b]))
            for a, b in zip(first, second, strict=True)
        ]
        return sorted(pairs, key=lambda p: p.distance)

    def enrol(self, name: str, ref: Reference, *, replacing: int | None = None, force: bool = False) -> Enrolled:
        """Add a person (or give ``replacing`` a new photo); refuses a face that
        looks like someone else's unless ``force``."""
        if not force and (similar := self.lookalikes(ref, replacing)):
            raise LooksLikeSomeone(similar)
        fields = dict(image=ref.image, face=ref.face, crop=ref.crop, embedding=ref.embedding, model_version=self.model_version)
        if replacing is None:
            employee_id = self.store.add_employee(name, **fields)
        else:
            self.store.replace_reference(replacing, **fields)
            employee_id = replacing
        return Enrolled(employee_id, self.store.get_employee(employee_id).name, ref.note)

    def employee(self, employee_id: int) -> Employee:
        return self.store.get_employee(employee_id)

    def employees(self) -> list[Employee]:
        return self.store.employees()

    def reference(self, employee_id: int) -> StoredReference:
        return self.store.reference(employee_id)

    def rename(self, employee_id: int, name: str) -> None:
        self.store.rename(employee_id, name)

    def set_expected_start(self, employee_id: int, start: str | None) -> None:
        self.store.set_expected_start(employee_id, start)

    def remove(self, employee_id: int, purge: bool = False) -> None:
        """Deletes their photo and templates; their attendance too with ``purge``."""
        self.store.remove_employee(employee_id, purge_attendance=purge)

    # -- templates: more pictures of a person than the enrolment photo -------------------------------
    def add_photo(self, employee_id: int, ref: Reference) -> int:
        """Another photo of an enrolled person. The enrolment photo stays the
        reference: the new one must match it, and must not look like anyone else."""
        name = self.store.get_employee(employee_id).name
        gallery = self.store.gallery(self.model_version)
        like_them, similar = False, []  # nobody is like a person without a reference for this model
        if employee_id in gallery.ids:
            reference = _reference_of(gallery, employee_id)
            like_them, similar = _likeness(gallery, employee_id, reference, ref.embedding, self.thresholds(gallery).good)
        if not like_them:
            raise NotThisPerson(f"this photo does not look enough like {name}'s enrolment photo; use a clear photo of {name}")
        if similar:
            raise NotThisPerson(f"this photo also looks like {similar[0].name}; use a clear photo of {name} alone")
        return self._add_template(employee_id, PHOTO, ref.image, ref.face, ref.crop, ref.embedding, None, reference)

    def learn(self, person: int, event: Recognised, best: BestFace | None, entry: Entry | None) -> int | None:
        """Keep a confident welcome's face as a template of ``person``; returns its id, or None when not learnt."""
        settings = self.recognizer.settings
        evidence = event.evidence
        if not settings.learn_from_visits or settings.max_templates == 0 or entry is None or best is None or evidence is None:
            return None
        gallery = self.store.gallery(self.model_version)
        threshold = self.door_thresholds(gallery).good  # the evidence is fused, as the door judged it
        if not (
            evidence.good
            and best.good
            and templates.confident(event.distance, event.margin, threshold, settings.learn_within, settings.learn_margin)
        ):
            return None
        # The best face's own embedding, not the visit's average: the door compares a visit's averaged faces
        # with single pictures, as the sidecar's fused table and extra_picture_weight were measured; averaged
        # templates sat nearer other people's averaged faces and named strangers (benchmarks/door_week.py).
        image, face = reference_image(best.frame, best.face)
        crop, embedding = self.encoder.embed_face(image, face)
        reference = _reference_of(gallery, person)
        like_them, similar = _likeness(gallery, person, reference, embedding, threshold)
        if not like_them or similar:  # what a photo added on the admin page must pass too
            return None
        return self._add_template(person, DOOR, image, face, crop, embedding, entry.id, reference)

    def _add_template(self, person, source, image, face, crop, embedding, entry_id, reference: np.ndarray) -> int:
        """Add a template, then keep the person's most varied ``max_templates`` (``reference``: their enrolment photo's embedding)."""
        template_id = self.templates.add(
            person,
            source,
            image=image,
            face=face,
            crop=crop,
            embedding=embedding,
            model_version=self.model_version,
            entry_id=entry_id,
        )
        ids, rows = self.templates.embeddings(person, self.model_version)
        keep = templates.most_varied(reference, rows, self.recognizer.settings.max_templates)
        self.templates.remove([template for i, template in enumerate(ids) if i not in keep])
        return template_id

    def templates_of(self, employee_id: int) -> list[Template]:
        return self.templates.of(employee_id)

    def template_picture(self, template_id: int) -> tuple[int, np.ndarray]:
        return self.templates.picture(template_id)

    def remove_template(self, template_id: int) -> None:
        self.templates.remove([template_id])

    # -- punches -------------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        at = self.clock()
        if at.tzinfo is None:
            raise ValueError("the kiosk clock must give times with a time zone")
        return at

    def work_day(self, at: dt.datetime) -> dt.date:
        return attendance.work_day(at, self.zone, self.rules.day_start_time)

    def today(self) -> dt.date:
        return self.work_day(self.now())

    def record_visit(self, employee_id: int, distance: float | None, name: str = "?") -> VisitOutcome:
        """The one way a punch is written: the attendance rules decide against
        the person's history, in the same transaction as the append."""
        at = self.now()

        def rule(history: list[Entry]) -> attendance.Decision:
            return attendance.decide(history, at, self.rules.cooldown_seconds, self.zone, self.rules.day_start_time)

        entry, decision = self.store.record_visit(
            employee_id,
            at,
            rule,
            work_day=self.work_day(at),
            distance=distance,
            kiosk_id=self.kiosk_id,
            model_version=self.model_version,
        )
        return VisitOutcome(name, entry, None if entry is not None else decision.recent)

    def keep_punch_photo(self, entry: Entry, best: BestFace) -> bool:
        """A small photo of the face behind a punch, for the manager; old ones go after ``punch_photo_days``."""
        days = self.rules.punch_photo_days
        if days == 0:
            return False
        self.photos.keep(entry.id, entry.at, face_photo(best.frame, best.face))
        self.forget_old_punch_photos()
        return True

    def forget_old_punch_photos(self) -> int:
        """Delete punch photos older than ``punch_photo_days`` (at most once an hour; all of them when 0)."""
        now = self.now()
        if self._pruned is not None and now - self._pruned < dt.timedelta(hours=1):
            return 0
        self._pruned = now
        return self.photos.forget_before(now - dt.timedelta(days=self.rules.punch_photo_days))

    def punch_photo(self, entry_id: int) -> bytes | None:
        return self.photos.photo(entry_id)

    def punch_photos_of(self, entry_ids: list[int]) -> set[int]:
        return self.photos.which(entry_ids)

    def add_punch(self, employee_id: int, day: dt.date, time: dt.time, direction: str, *, author: str, note: str) -> Entry:
        """A manager's punch for a day and local time."""
        at = dt.datetime.combine(day, time, tzinfo=self.zone)
        return self.store.add_correction(
            employee_id,
            attendance.ADDED,
            at=at,
            direction=direction,
            author=author,
            note=note,
            work_day=self.work_day(at),
            kiosk_id=self.kiosk_id,  # where it was made: in a fleet, the database ties each row to its member
        )

    def correct(
        self, entry_id: int, kind: str, *, author: str, note: str, direction: str | None = None, wrong_person: bool = False
    ) -> Entry:
        """Void an entry or change its direction (the entry itself stays). A
        punch voided as the wrong person also loses the template its visit taught."""
        owner = self.store.entry_owner(entry_id)
        if owner is None:
            raise UnknownEntry(entry_id)
        now = self.now()
        entry = self.store.add_correction(
            owner,
            kind,
            at=now,
            target=entry_id,
            author=author,
            note=note,
            work_day=self.work_day(now),
            direction=direction,
            kiosk_id=self.kiosk_id,
        )
        if wrong_person and kind == attendance.VOID:
            self.templates.remove(self.templates.learnt_from(entry_id))
        return entry

    # -- timesheets -----------------------------------------------------------------------------------
    def expected_starts(self) -> dict[int, dt.time | None]:
        default = self.rules.expected_start_time
        return {e.id: dt.time.fromisoformat(e.expected_start) if e.expected_start else default for e in self.employees()}

    def entries(self, first: dt.date, last: dt.date, employee_id: int | None = None) -> list[Entry]:
        return self.store.entries(first, last, employee_id)

    def timesheet(self, first: dt.date, last: dt.date, employee_id: int | None = None) -> list[DayRecord]:
        return attendance.timesheet(
            self.entries(first, last, employee_id),
            first,
            last,
            self.zone,
            self.rules.day_start_time,
            self.expected_starts(),
            self.rules.cooldown_seconds,
        )

    def not_arrived(self, day: dt.date, records: list[DayRecord]) -> list[int]:
        return attendance.absent(self.expected_starts(), records, day, self.now(), self.zone)

    def names(self) -> dict[int, str]:
        return self.store.names()

    def punch_log(self, first: dt.date, last: dt.date, employee_id: int | None = None) -> list[LogRow]:
        return self.store.punch_log(first.isoformat(), last.isoformat(), employee_id)

    def entry_count(self, employee_id: int) -> int:
        """How many log rows a purge of this person would delete."""
        return len(self.store.punch_log(employee_id=employee_id))


def _reference_of(gallery: Gallery, person: int) -> np.ndarray:
    """The person's enrolment-photo embedding in the gallery."""
    return gallery.references()[int(np.flatnonzero(gallery.ids == person)[0])]


def _likeness(gallery: Gallery, person: int, reference: np.ndarray, embedding: np.ndarray, threshold: float):
    """What a new picture of ``person`` must pass, learnt at the door or added on the admin page: whether it
    matches their enrolment photo (``reference``) on its own, and whom else it looks like (none, to be kept)."""
    return templates.anchored(embedding, reference, threshold), lookalikes(gallery, embedding, threshold, exclude=person)


class NotThisPerson(ValueError):
    """An added photo that would make the person's pictures drift from their enrolment photo, or look like someone else."""


class UnknownEntry(KeyError):
    """No attendance entry with that id."""


__all__ = ["Application", "Enrolled", "LooksLikeSomeone", "UnknownEmployee", "UnknownEntry", "VisitOutcome"]
