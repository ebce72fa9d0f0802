"""`veriframe-worker`: the worker agent on a GPU node. Settings come from the environment
(`VERIFRAME_WORKER_*`, or the original worker's `BACKEND_API_URL`, `WORKER_ADDRESS`, ...);
the key never from the command line.

`VERIFRAME_WORKER_ROLE=verifier` makes it a verifier (`verifier_agent`): it verifies other
workers' deliveries instead of rendering jobs; its account must be one of the API's
`api_verifier_addresses`.

SIGTERM or Ctrl-C stops it: the render in hand is cancelled and its claim released, so the
job reopens for another worker at once (a job already rendered is still delivered, and
submitted if its verdict comes within 30 s); a verification in hand is cancelled and left to
its lease.
"""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Sequence

from render_executor.agent import Agent
from render_executor.session import chain_submitter
from render_executor.verifier_agent import VerifierAgent
from veriframe_core.distribution import add_version_option
from veriframe_core.settings import WorkerSettings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="veriframe-worker", description="Render VeriFrame jobs on this machine."
    )
    parser.add_argument(
        "--once", action="store_true", help="take at most one job (or verification), then exit"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_version_option(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for chatty in ("httpx", "urllib3"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    settings = WorkerSettings()  # the worker's fields only: no database, no operator key
    if settings.worker_role == "verifier":
        verify(settings, once=args.once)
    else:
        render(settings, once=args.once)


def _stopped_by_signals(stop, what: str) -> None:
    def handle(signum: int, _frame: object) -> None:
        logging.getLogger("veriframe.worker").info(
            "Worker: stopping; %s (signal %s)", what, signal.Signals(signum).name
        )
        stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def render(settings: WorkerSettings, *, once: bool) -> None:
    submitter = chain_submitter(settings) if settings.worker_submit_on_chain else None
    agent = Agent(settings, submitter=submitter)
    _stopped_by_signals(agent.stop, "releasing the job in hand")
    with agent:
        outcomes = agent.run(once=once)
    for outcome in outcomes:
        verdict = f"delivered {outcome.result_cid}" if outcome.completed else outcome.reason
        if outcome.verification is not None:
            verdict += f", {outcome.verification.state}"
        print(f"job {outcome.job_id} attempt {outcome.attempt}: {verdict}", flush=True)


def verify(settings: WorkerSettings, *, once: bool) -> None:
    verifier = VerifierAgent(settings)
    _stopped_by_signals(verifier.stop, "cancelling the verification in hand")
    with verifier:
        outcomes = verifier.run(once=once)
    for outcome in outcomes:
        said = outcome.verdict or f"not verified: {'; '.join(outcome.reasons) or 'stopped'}"
        print(f"job {outcome.job_id} attempt {outcome.attempt}: {said}", flush=True)
