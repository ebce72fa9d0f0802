"""`veriframe up`'s parts kept up: a part that dies is restarted after a backoff and named in
`up`'s display, with its restarts counted; only a part that keeps dying (`up_max_deaths`
deaths within `up_death_window_s`) stops the platform.

A dead part's process group may hold what the part started: uvicorn's workers would hold
the API's port, so it is stopped before the part starts again. The Dagster daemon's is not:
its forked runs record deliveries into Dagster's storage on their own, and stopped they
would fail their partitions; they finish and are stopped with the rest at Ctrl-C.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from veriframe_core.processes import Child, ChildDied

log = logging.getLogger("veriframe.up")
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
"""A part's n-th death within the window waits BACKOFF_FIRST_S · 2ⁿ⁻¹ s, at most this."""
LEFTOVERS_GRACE_S = 5.0
"""What a dead part's group holds gets SIGTERM, and SIGKILL after this many seconds."""


class PartKeepsDying(ChildDied):
    """A part died `up_max_deaths` times within `up_death_window_s`: the platform stops."""


@dataclass
class Part:
    """One part of the platform: how it is started, its process now, its deaths."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    child: Child
    leaves_orphans: bool = False
    restarts: int = 0
    deaths: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    retired: list[Child] = field(default_factory=list)


class Supervisor:
    """Starts the parts, restarts those that die (`check`, called every half second or so),
    and stops them all (`stop`)."""

    def __init__(
        self,
        logs: Path,
        *,
        max_deaths: int,
        window_s: float,
        say: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ):
        self.logs, self.max_deaths, self.window_s = logs, max_deaths, window_s
        self.say, self.clock = say, clock
        self.parts: list[Part] = []

    @property
    def children(self) -> list[Child]:
        """The parts' processes now, in the order they were started."""
        return [part.child for part in self.parts]

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], leaves_orphans: bool = False
    ) -> Child:
        """Start a part, to be restarted with the same command whenever it dies.
        `leaves_orphans`: what its group holds when it dies is left to finish (see the
        module's docstring)."""
        part = Part(name, list(argv), dict(env), self._spawn(name, argv, env), leaves_orphans)
        self.parts.append(part)
        return part.child

    def discard(self, child: Child) -> None:
        """Forget the part `child` runs (it died starting, and is started anew)."""
        self.parts = [part for part in self.parts if part.child is not child]

    def check(self) -> None:
        """Notice the parts that died since the last call and restart those whose backoff is
        over. PartKeepsDying when one died too often."""
        now = self.clock()
        for part in self.parts:
            if part.restart_at is None and not part.child.alive():
                self._died(part, now)
            elif part.restart_at is not None and now >= part.restart_at:
                self._restart(part)

    def restarts(self) -> dict[str, int]:
        """Restarts so far, of the parts that had any."""
        return {part.name: part.restarts for part in self.parts if part.restarts}

    def stop(self) -> None:
        """Stop every part, the last started first, and what earlier deaths left running."""
        for part in reversed(self.parts):
            for child in [part.child, *part.retired]:
                child.stop()

    def _died(self, part: Part, now: float) -> None:
        part.deaths.append(now)
        while part.deaths and part.deaths[0] < now - self.window_s:
            part.deaths.popleft()
        deaths = len(part.deaths)
        if deaths >= self.max_deaths:
            raise PartKeepsDying(
                f"{part.child.death()}\n{part.name} died {deaths} time{'s' * (deaths > 1)} within "
                f"{self.window_s:.0f} s (VERIFRAME_UP_MAX_DEATHS, _UP_DEATH_WINDOW_S): "
                "stopping the platform"
            )
        delay = min(BACKOFF_FIRST_S * 2 ** (deaths - 1), BACKOFF_MAX_S)
        log.warning("%s", part.child.death())
        self.say(
            f"{part.name} exited with code {part.child.proc.returncode}; restarting it in "
            f"{delay:.0f} s (log {part.child.log_path})"
        )
        part.restart_at = now + delay

    def _restart(self, part: Part) -> None:
        if part.leaves_orphans:
            part.retired.append(part.child)
        else:
            part.child.stop(timeout=LEFTOVERS_GRACE_S)  # what is left of its group
        part.child = self._spawn(part.name, part.argv, part.env)
        part.restarts += 1
        part.restart_at = None
        self.say(f"{part.name} restarted (pid {part.child.pid}, restarts {part.restarts})")

    def _spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        child = Child.spawn(name, argv, self.logs / f"{name}.log", env=env)
        log.info("started %s (pid %d), log %s", name, child.pid, child.log_path)
        return child
