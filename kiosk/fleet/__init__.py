"""Several kiosks on one PostgreSQL database: ``central`` (the adapter, the
only place psycopg is imported), ``replica`` (a member's local SQLite store
wrapped as an offline-first replica) and ``sync`` (the sync thread)."""
