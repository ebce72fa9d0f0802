"""The libraries a `.blend` links, read from its bytes without Blender: from Blender 5's
compressed files and plain ones, through the libraries in the job's folder; a file whose
bytes do not read is NotABlend (so the runner refuses it), never a hang or a silent pass."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import zstandard

from render_executor.blender.blendfile import NotABlend, linked_libraries, outside_libraries


def test_a_library_linked_through_a_library_in_the_folder_is_refused(outside_scenes: Path) -> None:
    nested = outside_scenes / "job" / "nested.blend"
    assert linked_libraries(nested) == ["//library.blend"]
    assert outside_libraries(nested, outside_scenes / "job", outside_scenes) == [
        "//../outside/lib.blend"
    ]


def test_the_libraries_of_a_compressed_and_of_a_plain_blend_are_read(
    outside_scenes: Path, tmp_path: Path
) -> None:
    compressed = outside_scenes / "job" / "library.blend"  # Blender 5 saves zstd, in several frames
    plain = tmp_path / "library.blend"
    with compressed.open("rb") as source:
        reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
        plain.write_bytes(reader.read())
    assert plain.read_bytes().startswith(b"BLENDER")
    assert linked_libraries(compressed) == linked_libraries(plain) == ["//../outside/lib.blend"]


def legacy_blend(*blocks: tuple[bytes, int]) -> bytes:
    """A Blender 4 file header (64-bit pointers, little endian) and blocks of `(code,
    length)` with no data."""
    headers = b"".join(struct.pack("<4siQii", code, length, 0, 0, 1) for code, length in blocks)
    return b"BLENDER-v405" + headers


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"PNG not a blend", "not a Blender file"),
        (legacy_blend((b"LI\0\0", -24)), "of -24 bytes"),
        (legacy_blend((b"LI\0\0", 1 << 30)), "where a few kilobytes are expected"),
        (legacy_blend((b"LI\0\0", 64)), "ends inside a block"),
    ],
)
def test_bytes_that_do_not_read_are_not_a_blend(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "crafted.blend"
    path.write_bytes(content)
    with pytest.raises(NotABlend, match=why):
        linked_libraries(path)


def test_a_file_without_dna_links_nothing_blender_could_load(tmp_path: Path) -> None:
    """Blender refuses a file without its DNA block ("Missing DNA block")."""
    path = tmp_path / "truncated.blend"
    path.write_bytes(legacy_blend((b"OB\0\0", 0)))
    assert linked_libraries(path) == []
