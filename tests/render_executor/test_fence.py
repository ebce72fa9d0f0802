"""The fence around Blender (Landlock): a fenced process reads the folders it was given and
the system's, writes only its scratch folder, and reads nothing else of the machine's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from render_executor.blender import fence


def fenced(argv: list[str], read: list[Path], write: list[Path]) -> subprocess.CompletedProcess:
    walls = fence.build(read, write)
    if walls is None:
        pytest.skip("this kernel has no Landlock: nothing is fenced")
    try:
        return subprocess.run(argv, preexec_fn=walls.enter, capture_output=True, text=True)
    finally:
        walls.close()


def test_a_fenced_process_reads_its_folder_and_not_the_rest(tmp_path: Path) -> None:
    job, elsewhere, scratch = tmp_path / "job", tmp_path / "elsewhere", tmp_path / "scratch"
    for folder in (job, elsewhere, scratch):
        folder.mkdir()
    (job / "texture.png").write_text("the job's")
    (elsewhere / "key.json").write_text("the worker's")
    assert fenced(["cat", str(job / "texture.png")], [job], [scratch]).stdout == "the job's"
    denied = fenced(["cat", str(elsewhere / "key.json")], [job], [scratch])
    assert denied.returncode != 0 and "Permission denied" in denied.stderr


def test_a_fenced_process_writes_its_scratch_folder_only(tmp_path: Path) -> None:
    job, scratch = tmp_path / "job", tmp_path / "scratch"
    job.mkdir(), scratch.mkdir()
    assert fenced(["touch", str(scratch / "frame.png")], [job], [scratch]).returncode == 0
    assert fenced(["touch", str(job / "frame.png")], [job], [scratch]).returncode != 0
    assert not (job / "frame.png").exists()
