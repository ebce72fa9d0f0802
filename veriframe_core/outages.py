"""Outlasting an outage of a part a process depends on (the API, an IPFS node, the chain).

A call that fails because the part cannot be reached is tried again with exponential backoff
and jitter until the part is back, the process stops, or `RetryPolicy.give_up_s` passes.
However many calls and threads wait on the same part, the outage is logged once when it
starts and once when it ends (with how long it lasted), never once per retry: an API restart
under a hundred agents is two lines in each agent's log, not thousands.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    stop_never,
    stop_when_event_set,
    wait_exponential_jitter,
)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How a call is retried while its part is down: first after `first_s`, then twice as
    long each time (jittered) up to `max_wait_s`; given up after `give_up_s` (None: never)."""

    first_s: float = 0.5
    max_wait_s: float = 2.0
    give_up_s: float | None = 3600.0


class Outages:
    """One part as its callers see it: reachable, or down since a moment; `outlast` runs a
    call through its outages. Thread-safe: one object is shared by all the part's callers."""

    def __init__(
        self,
        part: str,
        policy: RetryPolicy,
        log: logging.Logger,
        stopping: threading.Event | None = None,
    ):
        self.part = part
        self.policy = policy
        self.log = log
        self.stopping = stopping  # set: retries end at once (the process is stopping)
        self._since: float | None = None
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, err: BaseException) -> None:
        """A call could not reach the part: the outage's first line, if it has just begun."""
        with self._lock:
            if self._since is not None:
                return
            self._since = time.monotonic()
        self.log.warning(
            "%s is unreachable (%s); retrying with backoff until it is back", self.part, err
        )

    def recovered(self, sent_at: float) -> None:
        """A call sent at `sent_at` (`time.monotonic()`) reached the part: the outage's last
        line, if there was one before the call was sent (an answer to a call sent earlier,
        on a connection a stopping server still serves, says nothing of its return)."""
        with self._lock:
            if self._since is None or sent_at < self._since:
                return
            lasted, self._since = time.monotonic() - self._since, None
        self.log.info("%s is back after %.1f s of outage", self.part, lasted)

    def outlast(self, call: Callable[[], T], transient: Callable[[BaseException], bool]) -> T:
        """`call()`, tried again while it raises what `transient` says is an outage; its
        last error raised when the policy gives up or the process stops."""
        stop = stop_never
        if self.policy.give_up_s is not None:
            stop = stop_after_delay(self.policy.give_up_s)
        if self.stopping is not None:
            stop = stop | stop_when_event_set(self.stopping)
        retrying = Retrying(
            stop=stop,
            wait=wait_exponential_jitter(
                initial=self.policy.first_s, max=self.policy.max_wait_s, jitter=self.policy.first_s
            ),
            retry=retry_if_exception(transient),
            before_sleep=self._before_sleep,
            sleep=self.stopping.wait if self.stopping is not None else time.sleep,
            reraise=True,
        )
        sent_at = time.monotonic()

        def attempt() -> T:
            nonlocal sent_at
            sent_at = time.monotonic()
            return call()

        try:
            result = retrying(attempt)
        except Exception as err:
            if not transient(err):  # the part answered (it said no): it is up
                self.recovered(sent_at)
            raise
        self.recovered(sent_at)
        return result

    def _before_sleep(self, state: RetryCallState) -> None:
        if state.outcome is not None and (err := state.outcome.exception()) is not None:
            self.failed(err)
