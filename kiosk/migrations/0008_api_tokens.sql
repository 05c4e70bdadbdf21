-- Schema 8: the REST API's bearer tokens, made, named, scoped (space-separated: read, write) and revoked by an admin.
-- A token is kiosk_<id>_<secret>; only the secret's SHA-256 is kept (the token is shown once, when it is made). A
-- revoked token stays listed. Kept short: the whole schema must stay on the database's first page, where start-up's
-- check of a damaged file (tests/test_store.py) expects it; names in use are kept unique by kiosk/api_tokens.py.
CREATE TABLE IF NOT EXISTS api_tokens (id INTEGER PRIMARY KEY, name TEXT NOT NULL, secret_sha256 TEXT NOT NULL,
scopes TEXT NOT NULL, created TEXT NOT NULL, last_used TEXT, revoked TEXT);
