"""Run the local IPFS node until SIGINT/SIGTERM: `veriframe ipfs` and `python -m kubonode`."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from aiohttp import web

from kubonode.node import KUBO_VERSION, KuboNode
from kubonode.server import build_app

log = logging.getLogger("kubonode")


async def _serve(host: str, port: int, repo: Path) -> None:
    node = await asyncio.to_thread(KuboNode, repo)
    runner = web.AppRunner(build_app(node, repo / "facade-tmp"), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        node.close()
        raise SystemExit(
            f"the IPFS node cannot listen on {host}:{port} ({err.strerror}); "
            "pick another port with --port or VERIFRAME_IPFS_PORT"
        ) from None
    url = f"http://{host}:{port}"
    log.info(
        "kubonode: Kubo %s serving the RPC API at %s/api/v0 and the gateway at %s/ipfs, "
        "offline, repository %s",
        KUBO_VERSION,
        url,
        url,
        repo,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        node.close()
        log.info("kubonode: stopped")


def run(host: str, port: int, repo: Path) -> None:
    """Serve until stopped; the repository keeps what was added across restarts."""
    asyncio.run(_serve(host, port, Path(repo).expanduser().resolve()))
