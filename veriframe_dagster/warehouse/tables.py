"""The warehouse schema: one MetaData shared by the ORM models and Alembic.

The naming convention gives every constraint and index a deterministic name, so Alembic
autogenerate can diff and drop them by name on any server.
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    """Base of every warehouse ORM model; its tables land in :data:`metadata`."""

    metadata = metadata
