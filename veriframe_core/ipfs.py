"""IPFS through the Kubo RPC API (`/api/v0`), with gateway fallback for downloads.

Any Kubo-compatible node works: a real Kubo daemon, a pinning service's RPC endpoint, or the
local node `veriframe ipfs` runs (`kubonode`). Calls go through `ipfshttpclient.Client`,
constructed directly: its `connect()` refuses every Kubo since 0.8. Every call has a timeout
and is retried with exponential backoff (and jitter) while the node cannot be reached;
an error the node answers (a bad CID, say) is not retried. With `outages`, a call that
still reaches nothing (no node, no gateway) then waits the outage out (`outages.Outages`):
what a worker agent needs to keep working through a restart of its node.

What is added is pinned and must fit the JobRegistry's two short strings (CIDv0, or base32
CIDv1): the platform puts every CID it makes on chain. Downloads stop at a size cap, read
from the node first and then from each gateway in turn.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx
import ipfshttpclient
from ipfshttpclient import exceptions as ipfs_errors
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from veriframe_core.chain.cids import CidEncodingError, cid_to_felts
from veriframe_core.outages import Outages

# urllib3 2 warns on every request about a `strict` argument ipfshttpclient 0.7 still passes
warnings.filterwarnings("ignore", message="The 'strict' parameter", category=FutureWarning)

log = logging.getLogger("veriframe.ipfs")

DEFAULT_MAX_DOWNLOAD_BYTES = 2 * 1024**3
CHUNK = 1 << 16


class IpfsError(RuntimeError):
    """An IPFS operation failed; the message says which, where and why."""


class IpfsUnavailable(IpfsError):
    """Neither the node nor any gateway could be reached (after the retries)."""


class IpfsTooLarge(IpfsError):
    """The content is larger than the download cap."""


def api_multiaddr(api: str) -> str:
    """The node's RPC address as the multiaddr `ipfshttpclient` takes: a multiaddr stays as
    it is; `http(s)://host:port[/api/v0]` is converted."""
    if api.startswith("/"):
        return api
    parts = urlsplit(api)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an IPFS API address: {api!r} (want http://host:port or a multiaddr)")
    host = parts.hostname
    kind = "ip6" if ":" in host else "ip4" if host.replace(".", "").isdigit() else "dns"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"/{kind}/{host}/tcp/{port}/{parts.scheme}"


def require_contract_cid(cid: str) -> str:
    """`cid` if it fits the contract's two short strings; IpfsError otherwise."""
    try:
        cid_to_felts(cid)
    except CidEncodingError as err:
        raise IpfsError(
            f"the node returned CID {cid!r}, which the JobRegistry cannot store ({err}); "
            "use CIDv0 (the default of `ipfs add`) or base32 CIDv1"
        ) from None
    return cid


def _transient(err: BaseException) -> bool:
    """Worth another try: the node could not be reached, timed out or failed itself."""
    if isinstance(err, ipfs_errors.ErrorResponse):
        return False  # the node understood and said no
    if isinstance(err, ipfs_errors.StatusError):
        status = getattr(getattr(err, "original", None), "response", None)
        code = getattr(status, "status_code", 500)
        return code >= 500 or code == 429
    return isinstance(err, ipfs_errors.CommunicationError | httpx.TransportError)


class IpfsClient:
    """One node's RPC API, and gateways to fall back on for downloads."""

    def __init__(
        self,
        api: str,
        gateways: Iterable[str] = (),
        *,
        timeout_s: float = 30,
        attempts: int = 4,
        backoff_s: float = 0.5,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        outages: Outages | None = None,
    ):
        self.api = api
        self.outages = outages
        self.gateways = [g.rstrip("/") for g in gateways]
        self.timeout_s = timeout_s
        self.max_download_bytes = max_download_bytes
        self._retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(initial=backoff_s, max=30),
            retry=retry_if_exception(_transient),
            reraise=False,
        )
        self._node = ipfshttpclient.Client(api_multiaddr(api), timeout=timeout_s)

    def __enter__(self) -> IpfsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._node.close()

    # ------------------------------------------------------------------ the RPC API
    def _outlasting(self, fn, *args):
        """`fn(*args)`, through the outages of IPFS when the client has them (what still
        raises IpfsUnavailable after the quick retries is tried again until it is back)."""
        if self.outages is None:
            return fn(*args)
        return self.outages.outlast(partial(fn, *args), _unavailable)

    def _call(self, what: str, fn, *args, **kwargs):
        """`fn` retried while it fails transiently (then outlasted, with `outages`);
        IpfsError (or IpfsUnavailable) naming `what` when it does not succeed."""
        return self._outlasting(self._try, what, partial(fn, *args, **kwargs))

    def _try(self, what: str, fn):
        try:
            return self._retrying(fn)
        except RetryError as err:
            cause = err.last_attempt.exception()
            # a node that answers nothing for a CID (no provider has it) is not an outage
            kind = IpfsError if _timed_out(cause) else IpfsUnavailable
            raise kind(
                f"{what}: no answer after {err.last_attempt.attempt_number} tries ({cause}); "
                "check that the node runs (`veriframe ipfs` for a local one) and "
                "VERIFRAME_IPFS_API_URL"
            ) from cause
        except ipfs_errors.Error as err:
            raise IpfsError(f"{what}: {err}") from err

    def version(self) -> str:
        """The node's Kubo version."""
        return self._call(f"asking the IPFS node at {self.api} its version", self._node.version)[
            "Version"
        ]

    def add(self, path: Path) -> str:
        """Add and pin a file; its CID (CIDv0)."""
        result = self._call(
            f"adding {path} to the IPFS node at {self.api}", self._node.add, str(path)
        )
        return require_contract_cid(result["Hash"])

    def add_bytes(self, data: bytes) -> str:
        """Add and pin bytes; their CID (CIDv0)."""
        result = self._call(
            f"adding bytes to the IPFS node at {self.api}", self._node.add_bytes, data
        )
        return require_contract_cid(result)

    def pin(self, cid: str) -> None:
        """Pin content the node holds (or can fetch)."""
        self._call(f"pinning {cid} on the IPFS node at {self.api}", self._node.pin.add, cid)

    def unpin(self, cid: str) -> None:
        """Unpin `cid` (what `add` and `pin` pinned); one the node has not pinned is done
        already. Its blocks go at the node's next garbage collection."""
        try:
            self._call(f"unpinning {cid} on the IPFS node at {self.api}", self._node.pin.rm, cid)
        except IpfsError as err:
            if not _not_pinned(err.__cause__):
                raise

    # ------------------------------------------------------------------ downloads
    def cat(self, cid: str, max_bytes: int | None = None) -> bytes:
        """The content of `cid` in memory (small files: a frame, a manifest)."""
        out = io.BytesIO()
        self._fetch_into(cid, max_bytes or self.max_download_bytes, out)
        return out.getvalue()

    def download(self, cid: str, dest: Path, max_bytes: int | None = None) -> int:
        """Write the content of `cid` to `dest` (replaced whole, never left half written);
        its size in bytes."""
        partial = dest.with_name(dest.name + ".part")
        try:
            with partial.open("w+b") as out:
                size = self._fetch_into(cid, max_bytes or self.max_download_bytes, out)
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)
        return size

    def _fetch_into(self, cid: str, cap: int, out: BinaryIO) -> int:
        """Stream the content into `out` from the node, else from the first gateway that
        serves it whole; a source failing half-way is started over, never mixed. With
        `outages`, a round in which no source could be reached is started again."""
        return self._outlasting(self._fetch_round, cid, cap, out)

    def _fetch_round(self, cid: str, cap: int, out: BinaryIO) -> int:
        sources = [("node", self.api, self._node_stream)]
        sources += [("gateway", g, partial(self._gateway_stream, g)) for g in self.gateways]
        failures: list[str] = []
        unreachable = False
        for kind, where, stream in sources:

            def attempt(stream=stream) -> int:
                out.seek(0)
                out.truncate()
                size = 0
                for chunk in stream(cid, cap):
                    size += len(chunk)
                    if size > cap:
                        raise IpfsTooLarge(
                            f"{cid} is larger than the download cap of {cap:,} bytes"
                        )
                    out.write(chunk)
                return size

            try:
                return self._try(f"reading {cid} from the {kind} at {where}", attempt)
            except IpfsTooLarge:
                raise
            except IpfsError as err:
                missing = isinstance(err, IpfsUnavailable)
                unreachable |= missing
                failures.append(str(err))
                # an outage is logged by `outages`, once, not by every round of it
                log.log(
                    logging.DEBUG if missing and self.outages else logging.WARNING, "IPFS: %s", err
                )
        error = IpfsUnavailable if unreachable else IpfsError
        raise error(f"could not download {cid}: " + "; ".join(failures))

    def _node_stream(self, cid: str, cap: int) -> Iterator[bytes]:
        yield from self._node.cat(cid, length=cap + 1, stream=True)

    def _gateway_stream(self, gateway: str, cid: str, cap: int) -> Iterator[bytes]:
        with httpx.stream(
            "GET", f"{gateway}/{cid}", timeout=self.timeout_s, follow_redirects=True
        ) as answer:
            if answer.status_code != 200:
                raise IpfsError(f"gateway {gateway} answered {answer.status_code} for {cid}")
            if int(answer.headers.get("content-length") or 0) > cap:
                raise IpfsTooLarge(f"{cid} is larger than the download cap of {cap:,} bytes")
            yield from answer.iter_bytes(CHUNK)


def _unavailable(err: BaseException) -> bool:
    return isinstance(err, IpfsUnavailable)


def _not_pinned(err: BaseException | None) -> bool:
    """Kubo's answer to unpinning what it has no pin of ("not pinned or pinned indirectly":
    held, if at all, under another pin, which stays)."""
    return isinstance(err, ipfs_errors.ErrorResponse) and "not pinned" in str(err)


def _timed_out(err: BaseException | None) -> bool:
    """The node (or gateway) was reached and gave no answer in time: for a download, what a
    CID no node serves looks like. A connection it refused or never took is an outage."""
    if isinstance(err, httpx.ConnectTimeout):
        return False
    return isinstance(err, ipfs_errors.TimeoutError | httpx.TimeoutException)
