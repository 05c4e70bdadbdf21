-- Schema 7: what payroll needs of a person: their number in the payroll or HR system, and their name split as payroll
-- spells it (empty: split from the display name, the last word being the last name). A number belongs to one active
-- person; a removed person's number may be given again.
ALTER TABLE employees ADD COLUMN employee_number TEXT;
ALTER TABLE employees ADD COLUMN first_name TEXT;
ALTER TABLE employees ADD COLUMN last_name TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS employees_number ON employees(employee_number)
WHERE active = 1 AND employee_number IS NOT NULL;
