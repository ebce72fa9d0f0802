"""The agent's calls to the API through an outage (`outlasting`), against a real HTTP server
on a real socket that refuses, drops or answers as the test says: what is sent again, what
is not, and what the log says."""

from __future__ import annotations

import logging
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from render_executor.outlasting import OutlastingTransport
from veriframe_core.outages import Outages, RetryPolicy
from veriframe_core.processes import free_port

OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
AWAY = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
QUICK = RetryPolicy(first_s=0.02, max_wait_s=0.1, give_up_s=2)


class Api(socketserver.ThreadingTCPServer):
    """Reads each request whole, notes its line, and answers what `answer(n)` says for the
    n-th request (None: closes the connection without a word, as a dying server does)."""

    daemon_threads = allow_reuse_address = True

    def __init__(self, port: int, answer: Callable[[int], bytes | None]):
        self.requests: list[str] = []
        self.answer = answer
        super().__init__(("127.0.0.1", port), Handler)


class Handler(socketserver.StreamRequestHandler):
    server: Api

    def handle(self) -> None:
        while line := self.rfile.readline():
            length = 0
            while (header := self.rfile.readline()) not in (b"\r\n", b""):
                if header.lower().startswith(b"content-length:"):
                    length = int(header.split(b":")[1])
            self.rfile.read(length)
            self.server.requests.append(line.decode().rsplit(" ", 1)[0])
            reply = self.server.answer(len(self.server.requests))
            if reply is None:
                return
            self.wfile.write(reply)


@contextmanager
def serving(port: int, answer: Callable[[int], bytes | None]) -> Iterator[Api]:
    api = Api(port, answer)
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.shutdown()
        api.server_close()


def client(port: int, policy: RetryPolicy = QUICK) -> httpx.Client:
    outages = Outages("The API", policy, logging.getLogger("veriframe.worker"))
    return httpx.Client(
        base_url=f"http://127.0.0.1:{port}", transport=OutlastingTransport(outages), timeout=5
    )


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the outage's lines said: `unreachable`, or `back`."""
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("The API is")]
    return [line.split()[3] for line in said]


def test_a_claim_whose_answer_was_lost_is_not_sent_again() -> None:
    """It may have been made: sent again, it would claim a second job."""
    port = free_port()
    with (
        serving(port, lambda n: None) as api,
        client(port) as http,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        http.post("/api/v1/jobs/claim-next")
    assert api.requests == ["POST /api/v1/jobs/claim-next"]


def test_a_delivery_whose_answer_was_lost_is_sent_again_until_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="veriframe.worker")
    port = free_port()
    with serving(port, lambda n: OK if n > 2 else None) as api, client(port) as http:
        assert http.post("/api/v1/jobs/7/complete", json={"result_cid": "Qm"}).status_code == 200
    assert api.requests == ["POST /api/v1/jobs/7/complete"] * 3
    assert outage_lines(caplog) == ["unreachable", "back"]


def test_a_refused_claim_is_sent_again_once_the_api_listens() -> None:
    """A refused connection never reached the API: safe to send again, claims included."""
    port = free_port()
    done = threading.Event()

    def listen_later() -> None:
        time.sleep(0.3)
        with serving(port, lambda n: OK):
            done.wait(5)

    later = threading.Thread(target=listen_later)
    later.start()
    started = time.monotonic()
    try:
        with client(port) as http:
            assert http.post("/api/v1/jobs/claim-next").status_code == 200
    finally:
        done.set()
        later.join()
    assert time.monotonic() - started >= 0.3


def test_a_proxy_saying_the_api_is_away_is_waited_out_then_its_answer_returned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="veriframe.worker")
    port = free_port()
    policy = RetryPolicy(first_s=0.02, max_wait_s=0.1, give_up_s=0.5)
    with serving(port, lambda n: AWAY) as api, client(port, policy) as http:
        started = time.monotonic()
        answer = http.get("/api/v1/jobs/claimed")
    assert answer.status_code == 503 and len(api.requests) > 2
    assert 0.5 <= time.monotonic() - started < 2
    assert outage_lines(caplog) == ["unreachable"]  # and never said to be back


def test_an_outage_is_two_lines_however_many_threads_wait_it_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="veriframe.worker")
    port = free_port()
    answers: list[int] = []
    with client(port) as http:
        threads = [
            threading.Thread(
                target=lambda: answers.append(http.get("/api/v1/jobs/claimed").status_code)
            )
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # every thread retrying
        with serving(port, lambda n: OK):
            for thread in threads:
                thread.join(5)
    assert answers == [200] * 4
    assert outage_lines(caplog) == ["unreachable", "back"]
