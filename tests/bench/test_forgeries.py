"""The forgeries the verification bench and the cheating agent deliver: each keeps the frame's
size and mode (so only verification can catch it) and changes what it says it changes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support import forgeries

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def frame(tmp_path: Path) -> Path:
    """An RGBA frame with a gradient and an alpha the forgeries must keep."""
    y, x = np.mgrid[0:36, 0:64]
    pixels = np.stack([x * 3, y * 6, (x + y) * 2, np.full_like(x, 200)], axis=-1)
    path = tmp_path / "frame.png"
    Image.fromarray(pixels.astype(np.uint8), "RGBA").save(path)
    return path


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert (image.mode, image.size) == ("RGBA", (64, 36))
        return np.asarray(image).astype(int)


def test_shift_moves_the_picture_and_repeats_the_edge(frame: Path, tmp_path: Path) -> None:
    forgeries.shift(frame, tmp_path / "out.png", 3)
    before, after = pixels(frame), pixels(tmp_path / "out.png")
    assert (after[:, 3:] == before[:, :-3]).all()
    assert (after[:, :3] == before[:, :1]).all()


def test_colour_shift_adds_levels_to_one_channel_only(frame: Path, tmp_path: Path) -> None:
    forgeries.colour_shift(frame, tmp_path / "out.png", 5)
    difference = pixels(tmp_path / "out.png") - pixels(frame)
    unclipped = pixels(frame)[..., 0] <= 250
    assert (difference[..., 0][unclipped] == 5).all()
    assert (difference[..., 1:] == 0).all()


@pytest.mark.parametrize(
    "forge",
    [
        lambda s, d: forgeries.jpeg(s, d, 75),
        lambda s, d: forgeries.hue_saturation(s, d, hue_deg=5),
        lambda s, d: forgeries.noise(s, d, seed=1, matched=True),
        lambda s, d: forgeries.upscale(s, d, (64, 36)),
        lambda s, d: forgeries.flat(s, d),
    ],
    ids=["jpeg", "hue", "noise", "upscale", "flat"],
)
def test_image_forgeries_keep_size_mode_and_alpha(forge, frame: Path, tmp_path: Path) -> None:
    forge(frame, tmp_path / "out.png")
    assert (pixels(tmp_path / "out.png")[..., 3] == 200).all()


def test_a_smaller_render_of_a_render_change_comes_back_to_size(tmp_path: Path) -> None:
    """The bench's bpy script applies a RenderChange; `upscale` restores the job's size."""
    change = forgeries.RenderChange(samples=1, resolution_percentage=50, camera_turn_deg=2)
    small = tmp_path / "small.png"
    spec = {
        "scene": "depth_of_field",
        "blend": str(tmp_path / "scene.blend"),
        "result": str(tmp_path / "result.json"),
        "renders": [{"out": str(small), "seed": 7} | change.render_settings(10)],
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    script = ROOT / "bench" / "verification_scenes.py"
    subprocess.run([sys.executable, str(script), "--", str(tmp_path / "spec.json")], check=True)
    with Image.open(small) as image:
        assert image.size == (160, 90)
    forgeries.upscale(small, tmp_path / "big.png", (320, 180))
    with Image.open(tmp_path / "big.png") as image:
        assert image.size == (320, 180)
