"""The local IPFS node: Kubo's CIDs, the RPC subset over POST, the gateway, offline, kept."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pytest

from kubonode.process import KuboProcess
from tests.support.unixfs import CHUNK, LINKS_PER_NODE, cid_v0
from veriframe_core.processes import free_port

UNKNOWN = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"


def add(kubo: KuboProcess, content: bytes, **params: str) -> httpx.Response:
    return httpx.post(
        f"{kubo.url}/api/v0/add", params=params, files={"file": ("f.bin", content)}, timeout=60
    )


@pytest.mark.parametrize(
    "size",
    [0, 16, CHUNK, CHUNK + 1, 3 * CHUNK + 17, LINKS_PER_NODE * CHUNK + 5],
    ids=["empty", "small", "one-chunk", "two-chunks", "four-chunks", "two-levels"],
)
def test_cids_equal_the_ones_computed_from_the_unixfs_spec(kubo: KuboProcess, size: int) -> None:
    content = random.Random(size).randbytes(size)
    answer = add(kubo, content, **{"only-hash": "true"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["Hash"] == cid_v0(content)


def test_added_content_is_served_by_cat_and_the_gateway(kubo: KuboProcess) -> None:
    content = random.Random(1).randbytes(2 * CHUNK + 9)
    cid = add(kubo, content).json()["Hash"]
    cat = httpx.post(f"{kubo.url}/api/v0/cat", params={"arg": cid})
    assert cat.status_code == 200 and cat.content == content
    part = httpx.post(f"{kubo.url}/api/v0/cat", params={"arg": cid, "offset": 5, "length": 10})
    assert part.content == content[5:15]
    gateway = httpx.get(f"{kubo.url}/ipfs/{cid}")
    assert gateway.status_code == 200 and gateway.content == content
    assert gateway.headers["etag"] == f'"{cid}"'
    assert "immutable" in gateway.headers["cache-control"]
    pinned = httpx.post(f"{kubo.url}/api/v0/pin/add", params={"arg": cid})
    assert pinned.json() == {"Pins": [cid]}


def test_a_png_is_served_as_an_image(kubo: KuboProcess) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    cid = add(kubo, png).json()["Hash"]
    assert httpx.get(f"{kubo.url}/ipfs/{cid}").headers["content-type"] == "image/png"


def test_several_files_in_one_add_get_a_line_each(kubo: KuboProcess) -> None:
    files = [("file", ("a.txt", b"first")), ("file", ("b.txt", b"second"))]
    answer = httpx.post(f"{kubo.url}/api/v0/add", files=files)
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert [(r["Name"], r["Hash"]) for r in lines] == [
        ("a.txt", cid_v0(b"first")),
        ("b.txt", cid_v0(b"second")),
    ]


def test_the_rpc_api_takes_post_only(kubo: KuboProcess) -> None:
    answer = httpx.get(f"{kubo.url}/api/v0/version")
    assert answer.status_code == 405
    assert answer.json()["Type"] == "error" and "POST" in answer.json()["Message"]
    version = httpx.post(f"{kubo.url}/api/v0/version").json()
    assert version["Version"] == "0.22.0"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cid-version": "1"}, "CIDv0 only"),
        ({"raw-leaves": "true"}, "CIDv0 only"),
        ({"chunker": "size-1024"}, "size-262144 only"),
        ({"pin": "false"}, "pin=false"),
    ],
)
def test_options_the_node_cannot_honour_are_refused(
    kubo: KuboProcess, params: dict, message: str
) -> None:
    answer = add(kubo, b"x", **params)
    assert answer.status_code == 400 and message in answer.json()["Message"]


def test_bad_requests_get_clear_errors(kubo: KuboProcess) -> None:
    empty = httpx.post(f"{kubo.url}/api/v0/add")
    assert empty.status_code == 400 and "required" in empty.json()["Message"]
    no_arg = httpx.post(f"{kubo.url}/api/v0/cat")
    assert no_arg.status_code == 400 and "'arg'" in no_arg.json()["Message"]
    path = httpx.post(f"{kubo.url}/api/v0/cat", params={"arg": f"{UNKNOWN}/a.png"})
    assert path.status_code == 400 and "paths" in path.json()["Message"]


def test_content_the_node_does_not_hold_is_refused_at_once(kubo: KuboProcess) -> None:
    """Offline, the node never waits on peers for content it does not have."""
    cat = httpx.post(f"{kubo.url}/api/v0/cat", params={"arg": UNKNOWN}, timeout=5)
    assert cat.status_code == 404 and "not on this node" in cat.json()["Message"]
    pin = httpx.post(f"{kubo.url}/api/v0/pin/add", params={"arg": UNKNOWN}, timeout=5)
    assert pin.status_code == 404
    assert httpx.get(f"{kubo.url}/ipfs/{UNKNOWN}", timeout=5).status_code == 404


def test_pins_are_listed_and_removed_as_kubo_does(kubo: KuboProcess) -> None:
    cid = add(kubo, b"pinned, then not").json()["Hash"]
    listed = httpx.post(f"{kubo.url}/api/v0/pin/ls", params={"arg": cid})
    assert listed.json() == {"Keys": {cid: {"Type": "recursive"}}}
    assert cid in httpx.post(f"{kubo.url}/api/v0/pin/ls").json()["Keys"]
    removed = httpx.post(f"{kubo.url}/api/v0/pin/rm", params={"arg": cid})
    assert removed.status_code == 200 and removed.json() == {"Pins": [cid]}
    gone = httpx.post(f"{kubo.url}/api/v0/pin/ls", params={"arg": cid})
    assert gone.status_code == 500 and gone.json()["Message"] == f"path '{cid}' is not pinned"
    again = httpx.post(f"{kubo.url}/api/v0/pin/rm", params={"arg": cid})
    assert again.status_code == 500 and again.json()["Message"] == "not pinned or pinned indirectly"
    assert cid not in httpx.post(f"{kubo.url}/api/v0/pin/ls").json()["Keys"]


def test_content_survives_a_restart_of_the_node(tmp_path: Path) -> None:
    node = KuboProcess(tmp_path / "repo", free_port()).start()
    try:
        cid = add(node, b"kept across restarts").json()["Hash"]
    finally:
        node.stop()
    node = KuboProcess(tmp_path / "repo", free_port()).start()
    try:
        assert httpx.get(f"{node.url}/ipfs/{cid}").content == b"kept across restarts"
    finally:
        node.stop()
    config = json.loads((tmp_path / "repo" / "config").read_text())
    assert config["Bootstrap"] == [] and config["Routing"]["Type"] == "none"
