"""System programs from Debian packages that some tests drive (nginx, chromium, PostgreSQL)."""

from __future__ import annotations

import os
import shutil

import pytest


def system_binary(name: str, package: str, *, also_in: str = "/usr/sbin:/sbin") -> str:
    """The path of a packaged program. Where it is missing the test is skipped with the line
    that installs it, except under CI (`.ci/run` installs it), where that is a failure."""
    path = shutil.which(name, path=f"{os.environ.get('PATH', '')}:{also_in}")
    if path:
        return path
    message = f"{name} is not installed: apt-get install {package}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
