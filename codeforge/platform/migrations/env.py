"""Alembic environment: runs on the connection the platform hands it (see db.Database.migrate)."""

from alembic import context
from sqlalchemy import create_engine

from codeforge.platform.db import Base
from codeforge.platform.registry import load_models

load_models()
config = context.config
connection = config.attributes.get("connection")

if connection is None:  # `alembic revision --autogenerate` from a developer's shell
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    connection = engine.connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
