"""Child processes for `up`, the tests and the benches, all started and stopped one way.

Each child runs in its own process group with its output in a log file, so one signal stops
its whole tree (Dagster's code servers and runs, uvicorn's workers; a background `dagster`
ignores SIGTERM otherwise), and when it dies the last lines of its log say why. Dagster-free
and light (httpx is imported only by the URL probe), so `veriframe`'s CLI pays nothing for it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
LOG_TAIL_LINES = 15
KILL_WAIT_S = 5


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def listens(path: Path) -> bool:
    """Whether something listens on the Unix socket `path` (a readiness probe)."""
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(str(path))
            return True
        except OSError:
            return False


def answers(url: str, method: str = "GET") -> bool:
    """Whether `url` answers 200 (a readiness probe)."""
    import httpx

    try:
        return httpx.request(method, url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class ChildDied(RuntimeError):
    """A child exited while it was needed; the message names it and quotes its log."""


@dataclass
class Child:
    """A child process leading its own process group, its output in `log_path`."""

    name: str
    proc: subprocess.Popen
    log_path: Path

    @classmethod
    def spawn(
        cls,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        """Start `argv` in a new session, appending its stdout and stderr to `log_path`."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as out:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                list(argv),
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, proc, log_path)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def death(self) -> str:
        """Which child died, how, and the last lines of its log."""
        tail = self.log_tail().replace("\n", "\n    ") or "(its log is empty)"
        return (
            f"{self.name} exited with code {self.proc.returncode}; the last lines of "
            f"{self.log_path}:\n    {tail}"
        )

    def wait_ready(
        self, ready: Callable[[], object], timeout: float = 60, interval: float = 0.1
    ) -> float:
        """Wait until `ready()` is true (seconds waited); stopped if it dies or times out."""
        try:
            return wait_until(ready, self.name, [self], timeout=timeout, interval=interval)
        except TimeoutError as err:
            self.stop()
            raise TimeoutError(f"{err}; see {self.log_path}") from None
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 30, sig: signal.Signals = signal.SIGTERM) -> None:
        """`sig` to the whole group, then SIGKILL to what is left of it after `timeout`
        seconds: the leader exiting is not enough, its group (the daemon's forked runs,
        uvicorn's workers) may outlive it."""
        deadline = time.monotonic() + timeout
        self._signal_group(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)
        while group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.proc.poll() is None or group_alive(self.proc.pid):
            log.warning(
                "%s did not stop within %.0f s; killing its process group", self.name, timeout
            )
            self._signal_group(signal.SIGKILL)
            self.proc.wait()
            killed = time.monotonic() + KILL_WAIT_S
            while group_alive(self.proc.pid) and time.monotonic() < killed:
                time.sleep(0.05)  # a SIGKILL takes effect a moment later

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # the whole group is already gone
            os.killpg(self.proc.pid, sig)


def _stat(path: Path) -> list[str] | None:
    """A process's /proc stat fields after its name (state, ppid, pgrp, …); None if gone."""
    try:
        return path.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_running(pid: int) -> bool:
    """Whether process `pid` runs (a zombie does not: an orphan is reaped by whoever adopted
    it, maybe never)."""
    fields = _stat(Path(f"/proc/{pid}/stat"))
    return fields is not None and fields[0] != "Z"


def group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs (zombies do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat(stat)
        if fields is not None and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def first_dead(children: Iterable[Child]) -> Child | None:
    """The first of `children` that has exited, if any."""
    return next((child for child in children if not child.alive()), None)


def wait_until(
    ready: Callable[[], object],
    what: str,
    children: Iterable[Child] = (),
    *,
    timeout: float = 60,
    interval: float = 0.1,
    interrupt: Callable[[], None] | None = None,
) -> float:
    """Poll `ready()` until it is true and return the seconds waited. `ChildDied` when one of
    `children` exits first, `TimeoutError` after `timeout` s; `interrupt` is called each
    round, to raise from it when the wait should end early (Ctrl-C in `up`)."""
    started = time.monotonic()
    watched = list(children)
    while True:
        if interrupt is not None:
            interrupt()
        if dead := first_dead(watched):
            raise ChildDied(f"while waiting for {what}: {dead.death()}")
        if ready():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} was not ready within {timeout:.0f} s")
        time.sleep(interval)
