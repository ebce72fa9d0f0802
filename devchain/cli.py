"""devchain's command line: `python -m devchain` and `veriframe devchain` share it.

Each option falls back to its `VERIFRAME_DEVCHAIN_*` setting of the one settings object.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from veriframe_core.settings import get_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="listen address (VERIFRAME_DEVCHAIN_HOST)")
    parser.add_argument("--port", type=int, help="listen port (VERIFRAME_DEVCHAIN_PORT)")
    parser.add_argument(
        "--state-dir", type=Path, help="state folder (VERIFRAME_DEVCHAIN_STATE_DIR)"
    )
    parser.add_argument("--chain-id", help="chain id short string (VERIFRAME_DEVCHAIN_CHAIN_ID)")
    parser.add_argument("--seed", type=int, help="account key seed (VERIFRAME_DEVCHAIN_SEED)")
    parser.add_argument(
        "--accounts", type=int, help="predeployed accounts (VERIFRAME_DEVCHAIN_ACCOUNTS)"
    )


def serve(args: argparse.Namespace) -> None:
    """Serve devchain with these options, the settings filling in the rest."""
    from devchain.server import run

    settings = get_settings()
    run(
        host=args.host or settings.devchain_host,
        port=args.port or settings.devchain_port,
        state_dir=args.state_dir or settings.resolved_devchain_state_dir,
        chain_id=args.chain_id or settings.devchain_chain_id,
        seed=settings.devchain_seed if args.seed is None else args.seed,
        accounts=args.accounts or settings.devchain_accounts,
    )


def main(argv: Sequence[str] | None = None) -> None:
    from veriframe_core.serving import command_line  # aiohttp: only when serving

    command_line(
        "python -m devchain", "A local StarkNet JSON-RPC 0.10.2 node.", add_arguments, serve, argv
    )
