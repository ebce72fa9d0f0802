"""A fence around Blender's files on Linux (Landlock): the wall behind `inside.py`'s check.

Blender reads some of a scene's files while it opens the `.blend`, before any script can
look at them (volumes and caches are evaluated at load: measured, a mesh cache or a volume
pointing at a fifo hangs `open_mainfile`). So the process is fenced by the kernel as well:
it reads only the system's folders, its own installation and the job's folder, and writes
only its scratch folder. A worker's home, other jobs' folders and the rest of its disk are
not readable. Landlock needs no privilege (Linux 5.13+); where the kernel has none, or off
Linux, nothing is fenced and the path check is the only wall.
"""

from __future__ import annotations

import ctypes
import os
import stat
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # every architecture
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
ALL_V1 = (1 << 13) - 1  # execute … make_sym: every right of Landlock's first version
REFER, TRUNCATE = 1 << 13, 1 << 14  # versions 2 and 3
READ = EXECUTE | READ_FILE | READ_DIR
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE
SYSTEM = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/opt", "/proc", "/sys")
"""Read: libraries, GPU drivers and runtimes (/opt: ROCm, oneAPI), fonts, the kernel's
views of the machine. /dev is read and written (GPU device nodes open read-write)."""
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _abi() -> int:
    """Landlock's version in this kernel; 0: none."""
    if _LIBC is None:
        return 0
    return max(_LIBC.syscall(SYS_CREATE_RULESET, None, 0, CREATE_RULESET_VERSION), 0)


@dataclass(frozen=True)
class Fence:
    """A Landlock ruleset made in the parent (`build`); `enter` restricts the child."""

    ruleset: int

    def enter(self) -> None:
        """In the child, before exec: from here on the process and its children are fenced."""
        if _LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) or _LIBC.syscall(
            SYS_RESTRICT_SELF, self.ruleset, 0
        ):
            raise OSError(ctypes.get_errno(), "Landlock: the fence could not be entered")

    def close(self) -> None:
        os.close(self.ruleset)


def build(read: Iterable[Path], write: Iterable[Path]) -> Fence | None:
    """A fence that lets Blender read `read` (folders or files) and the system's folders,
    and write `write` and /dev; None where Landlock is missing."""
    abi = _abi()
    if not abi:
        return None
    handled = ALL_V1 | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)
    fd = _LIBC.syscall(SYS_CREATE_RULESET, struct.pack("=Q", handled), 8, 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "Landlock: no ruleset")
    fence = Fence(fd)
    try:
        for path in [*SYSTEM, *read]:
            _allow(fd, Path(path), READ)
        for path in ["/dev", *write]:
            _allow(fd, Path(path), handled)
    except BaseException:
        fence.close()
        raise
    return fence


def runtime() -> list[Path]:
    """This Python's folders (the bpy wheel, the standard library) and `inside.py`'s."""
    return [Path(p) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}] + [
        Path(__file__).parent
    ]


def _allow(ruleset: int, path: Path, access: int) -> None:
    """Let the fenced process do `access` beneath `path` (a folder), or to it (a file: the
    rights that apply to files); a missing path is skipped."""
    try:
        folder = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(os.fstat(folder).st_mode):
        access &= FILE_RIGHTS
    try:
        rule = struct.pack("=Qi", access, folder)  # struct landlock_path_beneath_attr, packed
        if _LIBC.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, rule, 0):
            raise OSError(ctypes.get_errno(), f"Landlock: {path} could not be allowed")
    finally:
        os.close(folder)
