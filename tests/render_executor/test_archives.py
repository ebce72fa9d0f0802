"""An asset archive is unpacked only if every member is a plain file or folder inside the
destination, and only up to its size and ratio limits; otherwise nothing is left behind."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from render_executor.archives import ArchiveLimits, UnsafeArchive, unpack

BLEND = b"BLENDER-v500" + b"\0" * 100


def make_zip(path: Path, members: dict[str, bytes], *, link: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                archive.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


def special(name: str, kind: bytes, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_a_plain_blend_is_moved_alone_into_the_jobs_folder(tmp_path: Path) -> None:
    blend = tmp_path / "asset"
    blend.write_bytes(BLEND)
    assert unpack(blend, tmp_path / "out") == tmp_path / "out" / "scene.blend"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["scene.blend"]
    assert (tmp_path / "out" / "scene.blend").read_bytes() == BLEND


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_an_archive_with_a_scene_and_its_textures_is_unpacked(tmp_path: Path, kind: str) -> None:
    members = {"shot/scene.blend": BLEND, "shot/textures/wood.png": b"png", "shot/x/y.blend": BLEND}
    archive = (
        make_zip(tmp_path / "a.zip", members)
        if kind == "zip"
        else make_tar(tmp_path / "a.tgz", list(members.items()))
    )
    found = unpack(archive, tmp_path / "out")
    assert found == (tmp_path / "out" / "shot" / "scene.blend").resolve()
    assert (tmp_path / "out" / "shot" / "textures" / "wood.png").read_bytes() == b"png"


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ({"../escape.blend": BLEND}, "'..' is not allowed"),
        ({"shot/../../escape.blend": BLEND}, "'..' is not allowed"),
        ({"/etc/cron.d/evil": b"x"}, "absolute paths"),
        ({"C:/Windows/evil.blend": BLEND}, "absolute paths"),
    ],
)
def test_paths_that_leave_the_destination_are_refused(
    tmp_path: Path, members: dict, reason: str
) -> None:
    for archive in (
        make_zip(tmp_path / "a.zip", members),
        make_tar(tmp_path / "a.tgz", list(members.items())),
    ):
        with pytest.raises(UnsafeArchive, match=reason):
            unpack(archive, tmp_path / "out")
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (special("shot/link", tarfile.SYMTYPE, "/etc/passwd"), "links"),
        (special("shot/hard", tarfile.LNKTYPE, "shot/scene.blend"), "links"),
        (special("shot/tty", tarfile.CHRTYPE), "special files"),
        (special("shot/fifo", tarfile.FIFOTYPE), "special files"),
    ],
)
def test_links_and_special_files_are_refused(
    tmp_path: Path, member: tarfile.TarInfo, reason: str
) -> None:
    archive = make_tar(tmp_path / "a.tgz", [("shot/scene.blend", BLEND), member])
    with pytest.raises(UnsafeArchive, match=reason):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_link_in_a_zip_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"scene.blend": BLEND}, link="textures")
    with pytest.raises(UnsafeArchive, match="links are not allowed"):
        unpack(archive, tmp_path / "out")


def test_a_decompression_bomb_is_stopped_and_cleaned_up(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", {"scene.blend": BLEND, "zeros": b"\0" * 50_000_000})
    assert archive.stat().st_size < 100_000
    with pytest.raises(UnsafeArchive, match="decompression bomb"):
        unpack(archive, tmp_path / "out", ArchiveLimits(max_ratio=200))
    assert not (tmp_path / "out").exists()


def test_the_total_size_and_the_member_count_are_capped(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"scene.blend": BLEND, "big": b"x" * 10_000})
    with pytest.raises(UnsafeArchive, match="more than 5,000 bytes"):
        unpack(archive, tmp_path / "out", ArchiveLimits(max_total_bytes=5_000))
    many = make_zip(tmp_path / "many.zip", {f"f{i}": b"" for i in range(11)})
    with pytest.raises(UnsafeArchive, match="11 members: at most 10"):
        unpack(many, tmp_path / "out", ArchiveLimits(max_members=10))


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ({"textures/wood.png": b"png"}, "no .blend file"),
        ({"a.blend": BLEND, "b.blend": BLEND}, "several .blend files"),
        ({"scene.blend": b"not a blend"}, "not a Blender file"),
        ({"scene.blend": BLEND, "scene.blend/x": b""}, "cannot be written"),
    ],
)
def test_an_archive_without_one_scene_is_refused(
    tmp_path: Path, members: dict, reason: str
) -> None:
    with pytest.raises(UnsafeArchive, match=reason):
        unpack(make_zip(tmp_path / "a.zip", members), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_something_that_is_neither_a_blend_nor_an_archive_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "asset"
    junk.write_bytes(b"<html>not found</html>")
    with pytest.raises(UnsafeArchive, match="neither a Blender file nor a zip or tar archive"):
        unpack(junk, tmp_path / "out")
