"""Run devchain until SIGINT/SIGTERM: `veriframe devchain` and `python -m devchain`."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from aiohttp import web

from devchain.genesis import open_chain, write_chain_file
from devchain.server import build_app

log = logging.getLogger("devchain")


async def _serve(
    host: str, port: int, state_dir: Path, chain_id: str, seed: int, accounts: int
) -> None:
    chain = open_chain(state_dir, chain_id, seed, accounts)
    runner = web.AppRunner(build_app(chain), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        raise SystemExit(
            f"devchain cannot listen on {host}:{port} ({err.strerror}); "
            "pick another port with --port or VERIFRAME_DEVCHAIN_PORT"
        ) from None
    url = f"http://{host}:{port}/rpc"
    chain_file = state_dir / "chain.json"
    info = write_chain_file(chain, chain_file, url)
    log.info(
        "devchain: serving %s (chain %s, block %d); JobRegistry %s; chain file %s",
        url,
        info["chain_id_name"],
        chain.latest.number,
        info["job_registry_address"],
        chain_file,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        if chain.pending is not None and chain.pending.transactions:
            chain.mine()  # keep accepted transactions: seal the pre-confirmed block
        await runner.cleanup()
        chain.close()
        log.info("devchain: stopped at block %d", chain.latest.number)


def run(host: str, port: int, state_dir: Path, chain_id: str, seed: int, accounts: int) -> None:
    """Serve until stopped; the state folder keeps the chain across restarts."""
    asyncio.run(_serve(host, port, state_dir, chain_id, seed, accounts))
