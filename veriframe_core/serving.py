"""Serve an aiohttp application until SIGINT/SIGTERM: devchain and the local IPFS node.

Both are started by `up`, the tests and the benches as child processes and stopped with
SIGTERM (`veriframe_core.processes`), so both listen, wait and clean up the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from aiohttp import web

from veriframe_core.distribution import MissingExtra


@asynccontextmanager
async def listening(
    app: web.Application, host: str, port: int, *, name: str, port_setting: str
) -> AsyncIterator[None]:
    """Serve `app` on host:port inside the block; a port in use ends the process with a hint."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as err:
        await runner.cleanup()
        raise SystemExit(
            f"{name} cannot listen on {host}:{port} ({err.strerror}); "
            f"pick another port with --port or {port_setting}"
        ) from None
    try:
        yield
    finally:
        await runner.cleanup()


async def until_stopped() -> None:
    """Return when the process receives SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def command_line(
    prog: str,
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    serve: Callable[[argparse.Namespace], None],
    argv: Sequence[str] | None = None,
) -> None:
    """`python -m devchain` and `python -m kubonode`: parse the options, log to stderr, serve;
    a missing optional extra ends the process with one line that names it."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        serve(args)
    except MissingExtra as err:
        raise SystemExit(f"{prog}: {err}") from None
