-- Schema 2 of the fleet database: the database, not the member, decides a row's number, when it
-- arrived and which door recorded it; corrections come from the admin server only.
--
-- seq and received are the database's: members insert every other column and nothing else
-- (a member that chose seq = 1000000000 moved every door's pull position past the punches to come).
REVOKE INSERT ON attendance FROM kiosk_member;
GRANT INSERT (uuid, employee_id, at, day, direction, distance, kiosk_id, site, model_version, kind, author, note, target_uuid)
    ON attendance TO kiosk_member;

-- The kiosk id each login role records as: bound the first time the role records a row (or set here
-- beforehand by the owner), so a door writes rows as itself only, and no role takes another's id.
CREATE TABLE kiosk_doors (
    kiosk_id text PRIMARY KEY,
    member name NOT NULL UNIQUE,       -- the login role
    since timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON kiosk_doors TO kiosk_member;

-- Every row, whoever inserts it: numbered under the punch lock, so rows become visible in seq order
-- and with no hole (a member that sees one knows a row is missing); stamped with the time it arrived;
-- refused (check_violation, which a member sets aside) when it is a correction from a door, a punch
-- with an author, or a row in another door's name. SECURITY DEFINER: it binds kiosk ids in kiosk_doors,
-- which members may read only; session_user is the role that logged in, whatever role it set.
CREATE FUNCTION attendance_from_member() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    bound text;
    holder name;
BEGIN
    PERFORM pg_advisory_xact_lock(7150002);  -- the punch lock of kiosk/fleet/central.py
    NEW.seq := coalesce((SELECT max(seq) FROM attendance), 0) + 1;
    NEW.received := now();
    IF NEW.kind <> 'punch' AND NOT pg_has_role(session_user, 'kiosk_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'a door may not record a %: corrections are made on the fleet''s admin server', NEW.kind
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.kind = 'punch' AND NEW.author IS NOT NULL THEN
        RAISE EXCEPTION 'a punch has no author: corrections are made on the fleet''s admin server'
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT kiosk_id INTO bound FROM kiosk_doors WHERE member = session_user;
    IF bound IS NULL THEN
        SELECT member INTO holder FROM kiosk_doors WHERE kiosk_id = NEW.kiosk_id;
        IF holder IS NOT NULL THEN
            RAISE EXCEPTION 'kiosk id % is %''s: role % may not record rows in its name', NEW.kiosk_id, holder, session_user
                USING ERRCODE = 'check_violation';
        END IF;
        INSERT INTO kiosk_doors (kiosk_id, member) VALUES (NEW.kiosk_id, session_user);
    ELSIF bound <> NEW.kiosk_id THEN
        RAISE EXCEPTION 'role % records as %, not %: a door records rows as itself only (kiosk.id in its config)',
            session_user, bound, NEW.kiosk_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
REVOKE ALL ON FUNCTION attendance_from_member() FROM PUBLIC;
CREATE TRIGGER attendance_from_member BEFORE INSERT ON attendance
    FOR EACH ROW EXECUTE FUNCTION attendance_from_member();
