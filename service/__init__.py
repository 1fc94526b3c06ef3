"""hpsearch service: FastAPI app, SQLAlchemy store, Alembic migrations and the trial scheduler."""
