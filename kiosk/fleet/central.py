"""The fleet's central PostgreSQL database: the adapter the kiosks and the
fleet's admin server talk to (psycopg 3 and its pool, imported here only).

PostgreSQL holds the truth: the staff, each person's reference image with
its face, their embeddings per model version, and every punch and
correction of every door. Each kiosk keeps its SQLite database as a
replica (see :mod:`kiosk.fleet.replica`):

- **gallery changes** carry a ``revision`` from one sequence, taken under an
  advisory lock so revisions become visible in order; a kiosk asks for
  everything above the last revision it applied, and ``NOTIFY gallery``
  tells it to ask now;
- **punches** go up from each kiosk's outbox with the UUID it gave them
  (``ON CONFLICT DO NOTHING``: sending one twice is harmless) and come down
  to every member by ``seq``, also assigned in commit order.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from kiosk.fleet.rows import PersonChange, Punch

GALLERY_CHANNEL, PUNCH_CHANNEL = "kiosk_gallery", "kiosk_punches"
# Advisory locks that serialise the writers of each numbered stream, so a
# reader that has seen number N can never later find a smaller one (the
# database's attendance trigger, migrations/0002, takes the punch lock itself).
GALLERY_LOCK, _PUNCH_LOCK = 7150001, 7150002

# Versioned schema steps (kiosk/fleet/migrations/NNNN_*.sql), applied in order by ``kiosk fleet migrate``;
# never edit a released step.
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATIONS = {int(p.name.split("_", 1)[0]): p for p in sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))}
SCHEMA_VERSION = max(MIGRATIONS)


# A cable pulled or a router rebooted leaves no error on an idle connection; keepalives notice within about 25 s.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


# What a server says when it answers but will not let this member in (libpq gives no SQLSTATE for them).
_REFUSALS = (
    "password authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "permission denied",
    "no password supplied",
)


class CentralError(RuntimeError):
    """The fleet database refused or could not be reached; the message says what to do."""


class Unreachable(CentralError):
    """The fleet database cannot be reached now (the kiosk carries on offline)."""


class NotAllowed(CentralError, PermissionError):
    """This member's database role may not do that (a door cannot manage staff)."""


def redacted(url: str) -> str:
    """The database URL without its password, for logs and pages."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return "(unreadable database_url)"
    return " ".join(f"{k}={parts[k]}" for k in ("host", "port", "dbname", "user", "sslmode") if k in parts)


def _translate(exc: Exception) -> CentralError:
    import psycopg
    from psycopg import errors

    if isinstance(exc, errors.InsufficientPrivilege):
        return NotAllowed(
            "the fleet database refused this member (its role may not do this): staff are managed on the "
            "fleet's admin server ('kiosk admin serve')"
        )
    if isinstance(exc, (errors.UndefinedTable, errors.UndefinedColumn)):
        return CentralError(
            "the fleet database has no kiosk tables yet, or older ones than this kiosk's: run "
            "'kiosk fleet migrate --config FILE' with the database owner's URL"
        )
    text = str(exc).strip()
    refusal = next((line.split("FATAL:", 1)[1].strip() for line in text.splitlines() if "FATAL:" in line), "")
    if any(marker in refusal for marker in _REFUSALS):  # the server answered: a setting to fix, not an outage
        return CentralError(
            f"the fleet database refused this kiosk ({refusal}); check the role, its password "
            "(/etc/face-kiosk/pgpass for the service) and the database name in fleet.database_url"
        )
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return Unreachable(f"the fleet database cannot be reached ({text.splitlines()[0] if text else type(exc).__name__})")
    return CentralError(f"the fleet database failed: {exc}")


class Central:
    """A pool of connections to the fleet database, and the queries members
    and the admin server need. Every method raises :class:`Unreachable`
    while the database cannot be reached."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0, max_connections: int = 4):
        from psycopg_pool import ConnectionPool

        self.url = url
        self._timeout = connect_timeout
        self._connect = {"connect_timeout": max(1, round(connect_timeout)), "application_name": "face-kiosk", **KEEPALIVES}
        # Connections are checked as they leave the pool: after a database restart, the first query gets a live one.
        self.pool = ConnectionPool(
            url,
            min_size=0,
            max_size=max_connections,
            open=False,
            name="fleet",
            kwargs=self._connect,
            timeout=connect_timeout,
            reconnect_timeout=0,
            check=ConnectionPool.check_connection,
        )
        self.pool.open(wait=False)
        self._listener = None
        # The pool warns of every failed connection; the sync thread reports an outage once instead.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)

    def close(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            except Exception:
                pass
        self.pool.close()

    def _direct(self, work):
        """``work(connection)`` on a connection of its own, so a refused login
        says so (through the pool it would only time out)."""
        import psycopg

        try:
            with psycopg.connect(self.url, **self._connect) as conn:
                return work(conn)
        except psycopg.Error as exc:
            raise _translate(exc) from None

    def _run(self, work):
        """``work(connection)`` in one transaction, with the errors translated."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self.pool.connection() as conn:
                with conn.transaction():
                    return work(conn)
        except PoolTimeout:
            raise Unreachable(f"the fleet database cannot be reached within {self._timeout:g} s") from None
        except psycopg.Error as exc:
            raise _translate(exc) from None

    # -- schema ------------------------------------------------------------------
    def schema_version(self) -> int:
        def read(conn):
            if not conn.execute("SELECT to_regclass('kiosk_schema') IS NOT NULL").fetchone()[0]:
                return 0  # never migrated
            return conn.execute("SELECT coalesce(max(version), 0) FROM kiosk_schema").fetchone()[0]

        return self._direct(read)

    def kiosk_id_bound(self) -> str | None:
        """The kiosk id the database ties this member's role to (None until it records a row)."""
        query = "SELECT kiosk_id FROM kiosk_doors WHERE member = session_user"
        return self._direct(lambda conn: (conn.execute(query).fetchone() or [None])[0])

    def check_schema(self) -> None:
        version = self.schema_version()
        if version < SCHEMA_VERSION:
            raise CentralError(
                f"the fleet database is at schema {version}, this kiosk needs {SCHEMA_VERSION}: run "
                "'kiosk fleet migrate --config FILE' with the database owner's URL"
            )
        if version > SCHEMA_VERSION:
            raise CentralError(
                f"the fleet database is at schema {version}, newer than this kiosk ({SCHEMA_VERSION}): upgrade the kiosk software"
            )

    def migrate(self) -> list[int]:
        """Apply the missing schema steps, each in its own transaction; returns the steps applied."""

        def setup(conn):
            conn.execute(
                "CREATE TABLE IF NOT EXISTS kiosk_schema (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute("GRANT SELECT ON kiosk_schema TO PUBLIC")

        self._run(setup)
        applied = []
        for version in sorted(MIGRATIONS):

            def step(conn, version=version):
                conn.execute("LOCK TABLE kiosk_schema IN EXCLUSIVE MODE")  # two migrators never race
                if conn.execute("SELECT 1 FROM kiosk_schema WHERE version = %s", (version,)).fetchone():
                    return False
                conn.execute(MIGRATIONS[version].read_text(encoding="utf-8"))
                conn.execute("INSERT INTO kiosk_schema (version) VALUES (%s)", (version,))
                return True

            if self._run(step):
                applied.append(version)
        return applied

    # -- gallery -------------------------------------------------------------------
    def gallery_changes(self, after: int, model_version: str, limit: int = 200) -> list[PersonChange]:
        """People changed since revision ``after``, oldest change first, each
        with the embedding for ``model_version`` (or any other, to be re-made)."""

        def read(conn):
            rows = conn.execute(
                "SELECT e.id, e.name, e.created, e.active, e.expected_start, e.image_png, e.face_json, e.revision, "
                "m.model_version, m.crop_png, m.embedding, e.employee_number, e.first_name, e.last_name FROM employees e "
                "LEFT JOIN LATERAL (SELECT model_version, crop_png, embedding FROM embeddings WHERE employee_id = e.id "
                "  ORDER BY model_version = %s DESC, model_version LIMIT 1) m ON true "
                "WHERE e.revision > %s ORDER BY e.revision LIMIT %s",
                (model_version, after, limit),
            ).fetchall()
            return [
                PersonChange(
                    r[0], r[1], r[2].isoformat(), r[3], r[4], _bytes(r[5]), r[6], r[7], r[8], _bytes(r[9]), _bytes(r[10]), *r[11:]
                )
                for r in rows
            ]

        return self._run(read)

    def _change_person(self, conn, employee_id: int, sets: str, args: tuple, action: str) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (GALLERY_LOCK,))
        cur = conn.execute(
            f"UPDATE employees SET {sets}, revision = nextval('gallery_revision') WHERE id = %s AND active", (*args, employee_id)
        )
        if cur.rowcount == 0:
            raise KeyError(employee_id)
        conn.execute("INSERT INTO audit (action, employee_id) VALUES (%s, %s)", (action, employee_id))
        conn.execute(f"NOTIFY {GALLERY_CHANNEL}")

    def add_employee(
        self, name: str, *, image_png: bytes | None, face_json: str | None, crop_png: bytes, embedding: bytes, model_version: str
    ) -> int:
        def write(conn):
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (GALLERY_LOCK,))
            employee_id = conn.execute(
                "INSERT INTO employees (name, image_png, face_json, revision) VALUES (%s, %s, %s, nextval('gallery_revision')) "
                "RETURNING id",
                (name, image_png, face_json),
            ).fetchone()[0]
            conn.execute("INSERT INTO embeddings VALUES (%s, %s, %s, %s)", (employee_id, model_version, crop_png, embedding))
            conn.execute("INSERT INTO audit (action, employee_id) VALUES ('enrol', %s)", (employee_id,))
            conn.execute(f"NOTIFY {GALLERY_CHANNEL}")
            return int(employee_id)

        return self._run(write)

    def replace_reference(
        self,
        employee_id: int,
        *,
        image_png: bytes | None,
        face_json: str | None,
        crop_png: bytes,
        embedding: bytes,
        model_version: str,
    ) -> None:
        def write(conn):
            self._change_person(conn, employee_id, "image_png = %s, face_json = %s", (image_png, face_json), "new photo")
            # Embeddings other models made of the old photo are wrong now.
            conn.execute("DELETE FROM embeddings WHERE employee_id = %s", (employee_id,))
            conn.execute("INSERT INTO embeddings VALUES (%s, %s, %s, %s)", (employee_id, model_version, crop_png, embedding))

        self._run(write)

    def rename(self, employee_id: int, name: str) -> None:
        self._run(lambda conn: self._change_person(conn, employee_id, "name = %s", (name,), "rename"))

    def set_expected_start(self, employee_id: int, start: str | None) -> None:
        self._run(lambda conn: self._change_person(conn, employee_id, "expected_start = %s", (start,), "hours"))

    def remove_employee(self, employee_id: int) -> None:
        def write(conn):
            self._change_person(conn, employee_id, "active = false, image_png = NULL, face_json = NULL", (), "remove")
            conn.execute("DELETE FROM embeddings WHERE employee_id = %s", (employee_id,))

        self._run(write)

    # -- punches -------------------------------------------------------------------
    def push(self, punches: list[Punch]) -> dict[str, str]:
        """Store punches (each once, whatever is sent twice). Returns the rows
        the database refused for their content (a NUL byte, a door's correction,
        another door's name: see migrations/0002), by UUID, with the reason;
        the others are stored, so one bad row never holds up those behind it."""
        if not punches:
            return {}
        import psycopg

        def write(conn):
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PUNCH_LOCK,))
            refused: dict[str, str] = {}
            try:
                with conn.transaction(), conn.cursor() as cur:  # a savepoint: all at once, the usual case
                    cur.executemany(_INSERT_PUNCH, [_punch_row(p) for p in punches])
            except (psycopg.DataError, psycopg.IntegrityError):
                for p in punches:  # then one by one, to tell the refused rows from the rest
                    try:
                        with conn.transaction():
                            conn.execute(_INSERT_PUNCH, _punch_row(p))
                    except (psycopg.DataError, psycopg.IntegrityError) as exc:
                        refused[p.uuid] = _first_line(exc)
            conn.execute(f"NOTIFY {PUNCH_CHANNEL}")
            return refused

        return self._run(write)

    def punches_after(self, seq: int, limit: int = 2000) -> list[Punch]:
        def read(conn):
            rows = conn.execute(
                "SELECT uuid, employee_id, at, day, direction, distance, kiosk_id, site, model_version, kind, author, note, "
                "target_uuid, seq FROM attendance WHERE seq > %s ORDER BY seq LIMIT %s",
                (seq, limit),
            ).fetchall()
            return [
                Punch(
                    str(r[0]),
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    r[7],
                    r[8],
                    r[9],
                    r[10],
                    r[11],
                    None if r[12] is None else str(r[12]),
                    r[13],
                )
                for r in rows
            ]

        return self._run(read)

    def count_punches(self) -> int:
        return self._run(lambda conn: conn.execute("SELECT count(*) FROM attendance").fetchone()[0])

    # -- change notices ------------------------------------------------------------------
    def wait(self, seconds: float, woken=None) -> bool:
        """Wait up to ``seconds`` for a change notice from another member (or
        until ``woken``, an Event, is set); True when something changed."""
        import psycopg

        deadline = time.monotonic() + seconds
        try:
            if self._listener is None or self._listener.closed:
                self._listener = psycopg.connect(self.url, autocommit=True, **self._connect)
                self._listener.execute(f"LISTEN {GALLERY_CHANNEL}")
                self._listener.execute(f"LISTEN {PUNCH_CHANNEL}")
                return True  # anything sent before we listened was missed: look now
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or (woken is not None and woken.is_set()):
                    return False
                if list(self._listener.notifies(timeout=min(left, 0.2), stop_after=1)):
                    return True
        except psycopg.Error as exc:
            if self._listener is not None:
                self._listener.close()
            raise _translate(exc) from None


def _bytes(value) -> bytes | None:
    return None if value is None else bytes(value)


# What a member sends of a row: every column but seq and received, which the database sets.
_PUNCH_COLUMNS = "uuid employee_id at day direction distance kiosk_id site model_version kind author note target_uuid".split()
_INSERT_PUNCH = (
    f"INSERT INTO attendance ({', '.join(_PUNCH_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_PUNCH_COLUMNS))}) "
    "ON CONFLICT (uuid) DO NOTHING"
)


def _punch_row(p: Punch) -> tuple:
    return tuple(getattr(p, column) for column in _PUNCH_COLUMNS)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
