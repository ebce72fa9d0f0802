"""Dagster Pipes over the platform's API: the agent's side (of Dagster, only `dagster-pipes`).

The agent cannot reach Dagster (workers are behind NAT and untrusted), so its Pipes context
is read from the API and its messages are posted there, numbered from 0 per attempt, in
batches (every `interval` seconds, and at the end). A batch the API fails on (5xx, 429) is
kept and sent again with backoff; an API that cannot be reached is the client's transport's
to outlast (`outlasting`). The API stores each message once, so a retry after a lost answer
is harmless, and if it says messages are missing the channel resends from where it says.

    with open_render_pipes(client, job_id, attempt) as pipes:
        pipes.log.info("rendering")
        pipes.report_asset_materialization(metadata={...})
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from dagster_pipes import (
    DAGSTER_PIPES_CONTEXT_ENV_VAR,
    DAGSTER_PIPES_MESSAGES_ENV_VAR,
    PipesContext,
    PipesContextData,
    PipesContextLoader,
    PipesMappingParamsLoader,
    PipesMessage,
    PipesMessageWriter,
    PipesMessageWriterChannel,
    PipesParams,
    encode_param,
)
from pydantic import ValidationError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from veriframe_core import protocol
from veriframe_core.protocol import MAX_PIPES_BATCH, error_message


class PipesDeliveryError(RuntimeError):
    """The API refused the messages for good (the claim is gone, or they are malformed)."""


def _transient(err: BaseException) -> bool:
    """The API answered that it failed, or asks to slow down (an outage, where it cannot be
    reached at all, is outlasted by the agent's client: not retried again here)."""
    if isinstance(err, httpx.HTTPStatusError):
        return err.response.status_code >= 500 or err.response.status_code == 429
    return False


class ApiContextLoader(PipesContextLoader):
    """Reads the attempt's `PipesContextData` from `GET /jobs/{id}/pipes/context`."""

    def __init__(self, client: httpx.Client):
        self.client = client

    @contextmanager
    def load_context(self, params: PipesParams) -> Iterator[PipesContextData]:
        answer = self.client.get(f"/api/v1/jobs/{params['job_id']}/pipes/context")
        answer.raise_for_status()
        context = protocol.PipesContext.model_validate_json(answer.content)
        yield context.model_dump(mode="json")  # type: ignore[misc]  # the TypedDict's keys


class ApiMessageChannel(PipesMessageWriterChannel):
    """Buffers messages and posts them in order to `POST /jobs/{id}/pipes/messages`."""

    def __init__(
        self,
        client: httpx.Client,
        job_id: int,
        attempt: int,
        *,
        interval: float = 2.0,
        attempts: int = 6,
        backoff_s: float = 0.5,
    ):
        self.client = client
        self.url = f"/api/v1/jobs/{job_id}/pipes/messages"
        self.attempt = attempt
        self.interval = interval
        self.pending: list[PipesMessage] = []
        self.sent = 0  # messages the API has stored
        self._lock = threading.Lock()  # guards `pending`; writers never wait on the network
        self._flushing = threading.Lock()  # one flush at a time, so batches stay in order
        self._retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(initial=backoff_s, max=20),
            retry=retry_if_exception(_transient),
            reraise=True,
        )

    def write_message(self, message: PipesMessage) -> None:
        with self._lock:
            self.pending.append(message)

    def flush(self) -> None:
        """Post everything written so far (in batches); raises if the API refuses for good."""
        with self._flushing:
            while True:
                with self._lock:
                    batch = self.pending[:MAX_PIPES_BATCH]
                if not batch:
                    return
                stored_up_to = self._retrying(self._post, self.sent, batch)
                done = stored_up_to - self.sent
                if done <= 0:
                    raise PipesDeliveryError(f"the API kept no message of a batch at {self.sent}")
                with self._lock:
                    del self.pending[:done]
                self.sent = stored_up_to

    def _post(self, first: int, batch: list[PipesMessage]) -> int:
        try:
            body = protocol.PipesMessagesIn(attempt=self.attempt, first_seq=first, messages=batch)
        except ValidationError as err:  # as the API would refuse them
            raise PipesDeliveryError(f"Pipes messages {first}+ are malformed: {err}") from None
        answer = self.client.post(self.url, json=body.model_dump(mode="json", by_alias=True))
        if answer.status_code in (401, 403, 404, 409, 413, 422):
            raise PipesDeliveryError(
                f"the API refused Pipes messages {first}+: {error_message(answer)}"
            )
        answer.raise_for_status()
        return protocol.PipesMessagesStored.model_validate_json(answer.content).next_seq

    @contextmanager
    def flushing_in_background(self) -> Iterator[None]:
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(self.interval):
                with contextlib.suppress(Exception):  # kept pending; the final flush raises
                    self.flush()

        thread = threading.Thread(target=loop, daemon=True, name="pipes-flush")
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.flush()


class ApiMessageWriter(PipesMessageWriter[ApiMessageChannel]):
    def __init__(self, client: httpx.Client, **channel_options: float):
        self.client = client
        self.channel_options = channel_options

    @contextmanager
    def open(self, params: PipesParams) -> Iterator[ApiMessageChannel]:
        channel = ApiMessageChannel(
            self.client, params["job_id"], params["attempt"], **self.channel_options
        )
        with channel.flushing_in_background():
            yield channel


@contextmanager
def open_render_pipes(
    client: httpx.Client, job_id: int, attempt: int, **channel_options: float
) -> Iterator[PipesContext]:
    """A Pipes session for the caller's attempt on `job_id`, through the API at `client`
    (an authenticated client with the API as its base URL).

    Built as `open_dagster_pipes` builds it, with this module's loader and writer, but not
    through it: `open_dagster_pipes` keeps one context per process and hands the first one
    back on every later call, and an agent renders many jobs, several at once.
    """
    params = encode_param({"job_id": job_id, "attempt": attempt})
    pipes = PipesContext(
        PipesMappingParamsLoader(
            {DAGSTER_PIPES_CONTEXT_ENV_VAR: params, DAGSTER_PIPES_MESSAGES_ENV_VAR: params}
        ),
        ApiContextLoader(client),
        ApiMessageWriter(client, **channel_options),
    )
    with pipes:
        yield pipes
