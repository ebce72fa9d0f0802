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

`veriframe-worker register` registers the account on chain and waits for the operator to
verify it; `veriframe-worker doctor` checks this machine, one line per part (exit code 1 when
something is wrong). Both give up on a part that stays unreachable within seconds, where the
agent waits an outage out (`worker_outage_give_up_s`).
"""

from __future__ import annotations

import argparse
import functools
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from starknet_py.net.client_errors import ClientError

from render_executor.agent import Agent
from render_executor.doctor import checks
from render_executor.metrics import AgentMetrics
from render_executor.register import RegisterFailed, register
from render_executor.session import chain_submitter
from render_executor.verifier_agent import VerifierAgent
from veriframe_core.distribution import add_version_option
from veriframe_core.settings import WorkerSettings

REGISTER_GIVE_UP_S = 30.0
DOCTOR_GIVE_UP_S = 2.0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="veriframe-worker", description="Render VeriFrame jobs on this machine."
    )
    parser.add_argument(
        "--once", action="store_true", help="take at most one job (or verification), then exit"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_version_option(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="work: render jobs, or verify (the default)")
    register = commands.add_parser(
        "register", help="register the account on chain, then wait until it is verified"
    )
    register.add_argument(
        "--no-wait", action="store_true", help="register, say where it stands, do not wait"
    )
    register.add_argument(
        "--timeout", type=float, metavar="S", help="stop waiting after S seconds (exit code 1)"
    )
    register.add_argument(
        "--poll", type=float, default=5.0, metavar="S", help="read the status every S seconds"
    )
    commands.add_parser("doctor", help="check Blender, devices, API, IPFS, chain and account")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for chatty in ("httpx", "urllib3"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    settings = WorkerSettings()  # the worker's fields only: no database, no operator key
    if args.command == "register":
        raise SystemExit(_register(_impatient(settings, REGISTER_GIVE_UP_S), args))
    if args.command == "doctor":
        raise SystemExit(_doctor(_impatient(settings, DOCTOR_GIVE_UP_S)))
    if settings.worker_role == "verifier":
        verify(settings, once=args.once)
    else:
        render(settings, once=args.once)


def _impatient(settings: WorkerSettings, give_up_s: float) -> WorkerSettings:
    """The settings of a command someone waits on: an unreachable part fails it in seconds."""
    give_up = min(settings.worker_outage_give_up_s, give_up_s)
    return settings.model_copy(update={"worker_outage_give_up_s": give_up})


def _register(settings: WorkerSettings, args: argparse.Namespace) -> int:
    say = functools.partial(print, flush=True)
    try:
        verified = register(
            settings, say, wait=not args.no_wait, timeout_s=args.timeout, poll_s=args.poll
        )
    except KeyboardInterrupt:
        say("Stopped waiting; the registration stays (run `register` again to wait)")
        return 130
    except (RegisterFailed, ClientError, OSError) as err:  # OSError: unreachable, timeouts
        print(f"veriframe-worker register: {err}", file=sys.stderr)
        return 1
    return 0 if verified or args.no_wait else 1


def _doctor(settings: WorkerSettings) -> int:
    logging.getLogger("veriframe").setLevel(logging.ERROR)  # the lines say it, once each
    failed = False
    for check in checks(settings):
        print(check.line(), flush=True)
        failed |= not check.ok
    return 1 if failed else 0


def _stopped_by_signals(stop, what: str) -> None:
    def handle(signum: int, _frame: object) -> None:
        logging.getLogger("veriframe.worker").info(
            "Worker: stopping; %s (signal %s)", what, signal.Signals(signum).name
        )
        stop()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _serve_metrics(settings: WorkerSettings, metrics: AgentMetrics) -> None:
    """The agent's `/metrics`, when a port is set."""
    if settings.worker_metrics_port is not None:
        server = metrics.serve(settings.worker_metrics_host, settings.worker_metrics_port)
        host, port = server.server_address[:2]
        logging.getLogger("veriframe.worker").info("Metrics at http://%s:%d/metrics", host, port)


def render(settings: WorkerSettings, *, once: bool) -> None:
    stopping = threading.Event()
    submitter = chain_submitter(settings, stopping) if settings.worker_submit_on_chain else None
    agent = Agent(settings, submitter=submitter, stopping=stopping)
    _serve_metrics(settings, agent.metrics)
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
    _serve_metrics(settings, verifier.metrics)
    _stopped_by_signals(verifier.stop, "cancelling the verification in hand")
    with verifier:
        outcomes = verifier.run(once=once)
    for outcome in outcomes:
        said = outcome.verdict or f"not verified: {'; '.join(outcome.reasons) or 'stopped'}"
        print(f"job {outcome.job_id} attempt {outcome.attempt}: {said}", flush=True)
