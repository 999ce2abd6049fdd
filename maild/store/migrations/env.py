"""Alembic environment: runs migrations on the engine maild hands over (see maild.store.db)."""

from alembic import context

from maild.store.models import Base

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    # SQLite cannot ALTER constraints in place; batch mode rebuilds the table instead.
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
