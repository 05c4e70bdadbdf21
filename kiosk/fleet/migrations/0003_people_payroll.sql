-- Schema 3 of the fleet database: what payroll needs of a person, as a standalone kiosk keeps it (its schema 7):
-- their number in the payroll or HR system, and their name split as payroll spells it (empty: split from the
-- display name). A number belongs to one active person; a removed person's number may be given again. Every
-- person's row is null here until the admin server sets them, with a new revision, so members pull them as any
-- other change (a member that pulled before it understood them reads everyone's once: kiosk/fleet/replica.py).
-- The roles' grants on employees are the table's, so they cover the new columns: doors read them, the admin
-- server writes them.
ALTER TABLE employees
    ADD COLUMN employee_number text,
    ADD COLUMN first_name text,
    ADD COLUMN last_name text;
CREATE UNIQUE INDEX employees_number ON employees (employee_number) WHERE active AND employee_number IS NOT NULL;
