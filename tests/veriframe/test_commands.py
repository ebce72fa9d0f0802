"""The creator's and operator's commands: their input checks and their one-line errors."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from tests.support.platform import veriframe_cli
from veriframe.commands import resolution, token_amount
from veriframe.creator import CreatorError, pack
from veriframe_core.processes import free_port


def test_rewards_are_exact_token_amounts() -> None:
    assert token_amount("1") == 10**18
    assert token_amount("0.000000000000000001") == 1
    assert token_amount("12345678.123456789012345678") == 12345678123456789012345678
    for bad in ("0", "-1", "1e-19", "ten"):
        with pytest.raises(CreatorError, match="--reward"):
            token_amount(bad)


def test_resolutions_are_width_by_height() -> None:
    assert resolution("1920x1080") == (1920, 1080)
    assert resolution("64X48") == (64, 48)
    with pytest.raises(CreatorError, match="WIDTHxHEIGHT"):
        resolution("64x4x8")


def test_a_folder_is_packed_as_a_zip_of_its_files_without_links(tmp_path: Path) -> None:
    scene = tmp_path / "scene"
    (scene / "textures").mkdir(parents=True)
    (scene / "shot.blend").write_bytes(b"BLENDER-v500")
    (scene / "textures" / "wood.png").write_bytes(b"png")
    (scene / "outside").symlink_to("/etc/passwd")
    packed = pack(scene)
    assert isinstance(packed, bytes)
    with zipfile.ZipFile(io.BytesIO(packed)) as archive:
        assert sorted(archive.namelist()) == ["shot.blend", "textures/wood.png"]
    assert pack(scene / "shot.blend") == scene / "shot.blend"  # a file goes as it is
    (scene / "shot.blend").unlink()
    with pytest.raises(CreatorError, match=r"no \.blend"):
        pack(scene)
    with pytest.raises(CreatorError, match="no such file"):
        pack(tmp_path / "missing")


@pytest.mark.parametrize("command", [["status"], ["status", "7"], ["rate", "1", "90"]])
def test_commands_say_in_one_line_that_the_platform_is_not_running(
    command: list[str], tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIFRAME_")}
    env |= {"VERIFRAME_DATA_DIR": str(tmp_path), "VERIFRAME_API_PORT": str(free_port())}
    result = veriframe_cli(*command, env=env, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"veriframe {command[0]}: ")
    assert "veriframe up" in result.stderr
