"""Run the warehouse migrations from code: ``veriframe up``, the API and tests call this.

The Alembic config is built from the packaged alembic.ini with an absolute script location,
so it works from any working directory and from an installed package.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

WAREHOUSE_DIR = Path(__file__).resolve().parent
ALEMBIC_INI = WAREHOUSE_DIR / "alembic.ini"
MIGRATIONS_DIR = WAREHOUSE_DIR / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """The warehouse's Alembic config; ``url`` overrides the settings-derived database."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url is not None:
        # ConfigParser interpolates '%', which URL-encoded passwords and socket paths contain.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def upgrade_warehouse(url: str, revision: str = "head") -> None:
    """Migrate the warehouse at ``url`` up to ``revision``; a no-op when already there."""
    command.upgrade(alembic_config(url), revision)
