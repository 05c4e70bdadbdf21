-- Schema 1 of the fleet database: staff, embeddings per model, every door's attendance, the audit, and the roles.
CREATE TABLE employees (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    created timestamptz NOT NULL DEFAULT now(),
    active boolean NOT NULL DEFAULT true,
    expected_start text,
    image_png bytea,                 -- face-centred reference image any model can re-align
    face_json text,                  -- the face's box, score and keypoints in image_png
    revision bigint NOT NULL         -- from gallery_revision: bumped by every change to the person
);
CREATE SEQUENCE gallery_revision;
CREATE INDEX employees_revision ON employees (revision);
CREATE TABLE embeddings (
    employee_id bigint NOT NULL REFERENCES employees (id),
    model_version text NOT NULL,
    crop_png bytea NOT NULL,
    embedding bytea NOT NULL,        -- float32 unit vector
    PRIMARY KEY (employee_id, model_version)
);
CREATE TABLE attendance (
    seq bigserial PRIMARY KEY,       -- the order members pull in
    uuid uuid NOT NULL UNIQUE,       -- given by the kiosk that recorded it
    employee_id bigint NOT NULL REFERENCES employees (id),
    at timestamptz NOT NULL,
    day date NOT NULL,
    direction text CHECK (direction IN ('in', 'out')),
    distance real,
    kiosk_id text NOT NULL,
    site text NOT NULL DEFAULT '',
    model_version text,
    kind text NOT NULL CHECK (kind IN ('punch', 'added', 'void', 'redirect')),
    author text,
    note text,
    target_uuid uuid REFERENCES attendance (uuid),
    received timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attendance_day ON attendance (day, employee_id);
CREATE TABLE audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL DEFAULT current_user,
    action text NOT NULL,
    employee_id bigint
);
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kiosk_member') THEN CREATE ROLE kiosk_member NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kiosk_admin') THEN CREATE ROLE kiosk_admin NOLOGIN; END IF;
END $$;
-- A door reads the gallery and the punches, and adds punches; nothing else.
GRANT SELECT ON employees, embeddings, attendance TO kiosk_member;
GRANT INSERT ON attendance TO kiosk_member;
GRANT USAGE ON SEQUENCE attendance_seq_seq TO kiosk_member;
-- The admin server also manages the staff; no one rewrites or deletes punches.
GRANT kiosk_member TO kiosk_admin;
GRANT INSERT, UPDATE ON employees, embeddings TO kiosk_admin;
GRANT DELETE ON embeddings TO kiosk_admin;  -- a new photo or a removal drops the old embeddings
GRANT USAGE ON SEQUENCE employees_id_seq, gallery_revision TO kiosk_admin;
GRANT INSERT ON audit TO kiosk_admin;
GRANT USAGE ON SEQUENCE audit_id_seq TO kiosk_admin;
