"""Persistence: SQLAlchemy schema, Alembic migrations, repositories (SQLite or PostgreSQL)."""
