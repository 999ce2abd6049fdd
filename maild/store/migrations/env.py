"""Alembic environment: runs migrations on the engine maild hands over (see maild.store.db)."""

from alembic import context

from maild.store.models import Base

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    # SQLite cannot ALTER constraints or drop every kind of column in place; batch mode rebuilds
    # the table instead, dropping the old one, which foreign keys from rows of other tables
    # forbid. SQLite's own procedure (lang_altertable.html): keys off around the rebuild (the
    # pragma is ignored inside a transaction, so it goes to the driver before ours begins),
    # `foreign_key_check` before the commit.
    driver = connection.connection.driver_connection if sqlite else None
    if driver is not None:
        driver.execute("PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
        connection.commit()
    finally:
        if driver is not None:
            driver.execute("PRAGMA foreign_keys=ON")
