"""The creator's and operator's commands: their input checks and their one-line errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from veriframe.commands import resolution, token_amount
from veriframe.exits import BadInput
from veriframe.scene import packed


def test_rewards_are_exact_token_amounts() -> None:
    assert token_amount("1") == 10**18
    assert token_amount("0.000000000000000001") == 1
    assert token_amount("12345678.123456789012345678") == 12345678123456789012345678
    for bad in ("0", "-1", "1e-19", "ten"):
        with pytest.raises(BadInput, match="--reward"):
            token_amount(bad)


def test_resolutions_are_width_by_height() -> None:
    assert resolution("1920x1080") == (1920, 1080)
    assert resolution("64X48") == (64, 48)
    with pytest.raises(BadInput, match="WIDTHxHEIGHT"):
        resolution("64x4x8")


def test_a_folder_is_packed_as_a_zip_of_its_files_without_links(tmp_path: Path) -> None:
    scene = tmp_path / "scene"
    (scene / "textures").mkdir(parents=True)
    (scene / "shot.blend").write_bytes(b"BLENDER-v500")
    (scene / "textures" / "wood.png").write_bytes(b"png")
    (scene / "outside").symlink_to("/etc/passwd")
    with packed(scene) as archive_path:
        assert archive_path.suffix == ".zip"
        with zipfile.ZipFile(archive_path) as archive:
            assert sorted(archive.namelist()) == ["shot.blend", "textures/wood.png"]
    assert not archive_path.exists()  # a temporary file, gone once uploaded
    with packed(scene / "shot.blend") as as_it_is:  # a file goes as it is
        assert as_it_is == scene / "shot.blend"
    (scene / "shot.blend").unlink()
    with pytest.raises(BadInput, match=r"no \.blend"), packed(scene):
        pass
    with pytest.raises(BadInput, match="no such file"), packed(tmp_path / "missing"):
        pass
