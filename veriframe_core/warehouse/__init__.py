"""The warehouse: the Postgres server, its URLs, engine, schema and migrations.

Kept import-free on purpose: `render_executor` and the CLI import parts of the package
without paying for SQLAlchemy, Alembic or the embedded Postgres binaries. Import the
submodules (`embedded`, `urls`, `engine`, `tables`, `analytics`, `migrate`) directly.
"""
