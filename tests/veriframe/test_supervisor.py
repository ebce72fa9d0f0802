"""`up`'s supervisor, on real processes: a part that dies is restarted after its backoff
and said so; one that keeps dying stops the platform; what a dead part's group holds is
stopped before it starts again, unless it is left to finish (the daemon's runs), and
stopping reaches every process of a group, SIGKILL after the grace."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from veriframe.supervisor import LEFTOVERS_GRACE_S, PartKeepsDying, Supervisor
from veriframe_core.processes import Child, group_alive, process_running

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
# a grandchild in the same group writes its pid to argv[1] once it ignores SIGTERM (argv[2]
# "ignore", unless argv[1] exists: a restarted part's obeys, so that stopping them all at the
# end does not wait 30 s for it) or not; its parent waits
KID = (
    "import os, signal, sys, time\n"
    "if sys.argv[2] == 'ignore' and not os.path.exists(sys.argv[1]):\n"
    "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
    "time.sleep(60)\n"
)
PARENT = (
    "import subprocess, sys, time\n"
    f"subprocess.Popen([sys.executable, '-c', {KID!r}, *sys.argv[1:]])\n"
    "time.sleep(60)\n"
)
FAMILY = [sys.executable, "-c", PARENT]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def supervisor(tmp_path: Path, clock: Clock, said: list[str], max_deaths: int = 3) -> Supervisor:
    return Supervisor(tmp_path, max_deaths=max_deaths, window_s=60, say=said.append, clock=clock)


def wait_dead(child: Child) -> None:
    child.proc.wait(10)


def grandchild(pid_file: Path) -> int:
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return int(pid_file.read_text())


def test_a_dead_part_is_restarted_after_its_backoff_and_one_that_keeps_dying_stops_all(
    tmp_path: Path,
) -> None:
    clock, said = Clock(), []
    parts = supervisor(tmp_path, clock, said)
    try:
        worker = parts.start("worker", SLEEPER, os.environ)
        api = parts.start("api", SLEEPER, os.environ)
        worker.proc.kill()
        wait_dead(worker)
        parts.check()
        assert said == [
            f"worker exited with code -9; restarting it in 1 s (log {tmp_path}/worker.log)"
        ]
        clock.now = 0.9
        parts.check()  # its backoff is not over
        assert parts.children[0] is worker and parts.restarts() == {}
        clock.now = 1.0
        parts.check()
        restarted = parts.children[0]
        assert restarted is not worker and restarted.alive() and api.alive()
        assert said[-1] == f"worker restarted (pid {restarted.pid}, restarts 1)"
        assert parts.restarts() == {"worker": 1}

        restarted.proc.kill()  # the second death within the window waits twice as long
        wait_dead(restarted)
        parts.check()
        assert "restarting it in 2 s" in said[-1]
        clock.now = 3.0
        parts.check()
        parts.children[0].proc.kill()
        wait_dead(parts.children[0])
        with pytest.raises(PartKeepsDying, match="worker died 3 times within 60 s"):
            parts.check()
    finally:
        parts.stop()
    assert not any(child.alive() for child in parts.children)


def test_a_restart_stops_what_the_dead_part_left_unless_it_is_left_to_finish(
    tmp_path: Path,
) -> None:
    clock, said = Clock(), []
    parts = supervisor(tmp_path, clock, said)
    try:
        api = parts.start("api", [*FAMILY, str(tmp_path / "api.pid"), "ignore"], os.environ)
        daemon = parts.start(
            "daemon", [*FAMILY, str(tmp_path / "run.pid"), "obey"], os.environ, leaves_orphans=True
        )
        workers, run = grandchild(tmp_path / "api.pid"), grandchild(tmp_path / "run.pid")
        for part in (api, daemon):
            part.proc.kill()
            wait_dead(part)
        parts.check()
        clock.now = 1.0
        started = time.monotonic()
        parts.check()
        assert not process_running(
            workers
        )  # SIGKILLed once the grace was over (it ignores SIGTERM)
        assert time.monotonic() - started < LEFTOVERS_GRACE_S + 2
        assert process_running(run)  # the daemon's run goes on beside the new daemon
    finally:
        parts.stop()
    assert not process_running(run)  # and is stopped with the platform
    assert not group_alive(daemon.pid)


def test_stop_reaches_the_whole_group_and_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    family = Child.spawn(
        "family", [*FAMILY, str(tmp_path / "kid.pid"), "ignore"], tmp_path / "f.log"
    )
    kid = grandchild(tmp_path / "kid.pid")
    started = time.monotonic()
    family.stop(timeout=1)
    assert not process_running(kid) and not family.alive()
    assert 1 <= time.monotonic() - started < 5
