"""The resources every domain shares: the platform's settings, and the warehouse.

`SettingsResource` is the one `Settings` object as Dagster sees it: its config fields are
generated from `Settings` (names, types, descriptions; the values come from the settings the
definitions were built with), so nothing is restated here and the UI lists every setting.
Secret fields are handed over as `dg.EnvVar`, which the UI shows by name only; the processes
Dagster runs in read them from the environment (`veriframe up` sets them).
"""

from __future__ import annotations

import os
import types
import typing
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field, SecretStr, create_model

from veriframe_core.settings import Settings

if TYPE_CHECKING:
    import sqlalchemy as sa


def _config_type(annotation: Any) -> Any:
    """A Settings annotation as a type Dagster's config takes (paths and secrets as text)."""
    if annotation in (Path, SecretStr):
        return str
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) and type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        return _config_type(inner) | None
    return annotation


class _SettingsConfig(dg.ConfigurableResource):
    def settings(self) -> Settings:
        """The settings these values are (validated again; the environment is read only for
        the secrets, which Dagster resolves itself inside a run or tick)."""
        values = {
            name: value.get_value() if isinstance(value, dg.EnvVar) else value
            for name, value in self.model_dump().items()
        }
        return Settings.model_validate(values)


SettingsResource = create_model(
    "SettingsResource",
    __base__=_SettingsConfig,
    __doc__="VeriFrame's settings (`VERIFRAME_*`); secrets are environment variables.",
    **{
        name: (_config_type(field.annotation), Field(description=field.description))
        for name, field in Settings.model_fields.items()
    },
)


def settings_resource(settings: Settings) -> SettingsResource:
    """`settings` as the `settings` resource: plain values, paths absolute (the code server's
    working directory may differ), secrets as `dg.EnvVar`.

    A secret that is set must also be in the environment under its variable: the processes
    Dagster launches read it there, never from the resource config.
    """
    values = settings.model_dump(mode="json")
    for name, field in Settings.model_fields.items():
        if field.annotation in (Path, Path | None) and values[name] is not None:
            values[name] = str(Path(values[name]).expanduser().resolve())
    for name in Settings.secret_fields():
        value = settings.secret_value(name)
        variable = Settings.env_name(name)
        if value is None:
            values[name] = None
            continue
        if os.environ.get(variable) != value:
            raise ValueError(
                f"{variable} is set in the settings but not to the same value in the "
                f"environment: Dagster reads secrets from the environment only (its UI shows "
                f"the variable's name, never the value), so export {variable}"
            )
        values[name] = dg.EnvVar(variable)
    return SettingsResource(**values)


@cache
def _engine(url: str) -> sa.Engine:
    from veriframe_core.warehouse.engine import make_engine

    return make_engine(url)


def warehouse_url(settings: Settings) -> str:
    from veriframe_core.warehouse.urls import resolve_database_urls

    return resolve_database_urls(settings).warehouse


def warehouse_engine(settings: Settings) -> sa.Engine:
    """The warehouse's engine for `settings`, one per process and URL: a sensor ticking every
    few seconds reuses its pooled connections."""
    return _engine(warehouse_url(settings))


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse database the platform's tables live in (resolved on first use; with no
    database URL, the embedded server that `veriframe up` runs)."""

    settings: SettingsResource

    def url(self) -> str:
        return warehouse_url(self.settings.settings())

    def engine(self) -> sa.Engine:
        return _engine(self.url())
