"""Alembic migrations of the run store, shipped in the wheel as `tracer.migrations`."""
