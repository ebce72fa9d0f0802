"""The IPFS client over a real node: add, pin, download within a cap, gateway fallback,
retries with backoff, and clear errors when nothing answers."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from kubonode.process import KuboProcess
from tests.support.pins import pinned
from tests.support.unixfs import cid_v0
from veriframe_core.ipfs import (
    IpfsClient,
    IpfsError,
    IpfsTooLarge,
    IpfsUnavailable,
    api_multiaddr,
    require_contract_cid,
)
from veriframe_core.processes import free_port

UNKNOWN = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"


def nowhere() -> str:
    return f"http://127.0.0.1:{free_port()}"


def client(api: str, gateways: list[str] = (), **kwargs) -> IpfsClient:
    """A client with short timeouts and waits, so failures show quickly."""
    return IpfsClient(api, gateways, **{"timeout_s": 5, "backoff_s": 0.05, **kwargs})


def test_files_and_bytes_are_added_pinned_and_read_back(kubo: KuboProcess, tmp_path: Path):
    content = random.Random(3).randbytes(700_000)
    source = tmp_path / "scene.blend"
    source.write_bytes(content)
    with client(kubo.url) as ipfs:
        assert ipfs.version() == "0.22.0"
        cid = ipfs.add(source)
        assert cid == cid_v0(content)
        ipfs.pin(cid)
        dest = tmp_path / "out.blend"
        assert ipfs.download(cid, dest) == len(content)
        assert dest.read_bytes() == content
        assert ipfs.cat(ipfs.add_bytes(b"frame")) == b"frame"


def test_unpinning_drops_the_pin_and_what_has_none_is_done_already(kubo: KuboProcess) -> None:
    with client(kubo.url) as ipfs:
        cid = ipfs.add_bytes(b"a scene no job used")
        assert pinned(kubo.url, cid)
        ipfs.unpin(cid)
        assert not pinned(kubo.url, cid)
        ipfs.unpin(cid)  # not pinned: nothing to do
        ipfs.unpin(UNKNOWN)
        ipfs.pin(cid)  # its blocks are still there until the node's garbage collection
        assert pinned(kubo.url, cid)


def test_unpinning_on_a_node_that_is_down_says_so() -> None:
    with client(nowhere(), attempts=2) as ipfs, pytest.raises(IpfsUnavailable, match="unpinning"):
        ipfs.unpin(UNKNOWN)


def test_a_multiaddr_works_as_the_api_address(kubo: KuboProcess) -> None:
    address = api_multiaddr(kubo.url)
    assert address == f"/ip4/127.0.0.1/tcp/{kubo.port}/http"
    with client(address) as ipfs:
        assert ipfs.version() == "0.22.0"
    assert api_multiaddr("https://ipfs.example:443/api/v0") == "/dns/ipfs.example/tcp/443/https"
    with pytest.raises(ValueError, match="not an IPFS API address"):
        api_multiaddr("ftp://example")


def test_a_download_over_the_cap_is_refused_and_leaves_no_file(
    kubo: KuboProcess, tmp_path: Path
) -> None:
    with client(kubo.url, [f"{kubo.url}/ipfs"], max_download_bytes=1000) as ipfs:
        cid = ipfs.add_bytes(b"x" * 1001)
        dest = tmp_path / "big.bin"
        with pytest.raises(IpfsTooLarge, match="larger than the download cap of 1,000 bytes"):
            ipfs.download(cid, dest)
        assert list(tmp_path.iterdir()) == []
        assert ipfs.cat(cid, max_bytes=1001) == b"x" * 1001


def test_downloads_fall_back_to_a_gateway_when_the_node_is_down(kubo: KuboProcess) -> None:
    with client(kubo.url) as ipfs:
        cid = ipfs.add_bytes(b"through the gateway")
    with client(nowhere(), [nowhere() + "/ipfs", f"{kubo.url}/ipfs"], attempts=2) as ipfs:
        assert ipfs.cat(cid) == b"through the gateway"


def test_a_gateway_is_held_to_the_cap_too(kubo: KuboProcess) -> None:
    with client(kubo.url) as ipfs:
        cid = ipfs.add_bytes(b"y" * 5000)
    with (
        client(nowhere(), [f"{kubo.url}/ipfs"], attempts=1) as ipfs,
        pytest.raises(IpfsTooLarge),
    ):
        ipfs.cat(cid, max_bytes=4999)


def test_an_unreachable_node_is_retried_with_backoff_then_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "frame.png"
    path.write_bytes(b"png")
    with client(nowhere(), attempts=3) as ipfs:
        started = time.monotonic()
        with pytest.raises(IpfsUnavailable, match="no answer after 3 tries") as error:
            ipfs.add(path)
        assert time.monotonic() - started >= 0.1  # two waits of 0.05 s and more
    assert "veriframe ipfs" in str(error.value)


def test_content_nobody_holds_is_an_error_not_an_outage(kubo: KuboProcess) -> None:
    with (
        client(kubo.url, [f"{kubo.url}/ipfs"]) as ipfs,
        pytest.raises(IpfsError, match="not on this node") as error,
    ):
        ipfs.cat(UNKNOWN)
    assert not isinstance(error.value, IpfsUnavailable)
    assert "answered 404" in str(error.value)


def test_a_node_coming_back_during_the_retries_is_used(tmp_path: Path) -> None:
    node = KuboProcess(tmp_path / "repo", free_port())
    with client(node.url, attempts=8, backoff_s=0.3) as ipfs:
        starter = threading.Timer(0.5, node.start)
        starter.start()
        try:
            assert ipfs.add_bytes(b"late") == cid_v0(b"late")
        finally:
            starter.join()
            node.stop()


def test_only_cids_the_contract_can_store_are_accepted() -> None:
    assert require_contract_cid(UNKNOWN) == UNKNOWN
    base32 = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
    assert require_contract_cid(base32) == base32
    with pytest.raises(IpfsError, match="cannot store"):
        require_contract_cid("z" + "b" * 80)
