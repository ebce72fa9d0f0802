"""A frame passes only if it decodes (PNG, JPEG, TIFF by Pillow; OpenEXR, single layer or
multilayer, by the OpenEXR package), has the asked size and is not blank; GPU failures in
Blender's log fail a render; the device is chosen OptiX > CUDA > HIP > oneAPI > Metal > CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from PIL import Image

from render_executor.blender.checks import gpu_errors
from render_executor.blender.inside import choose_device
from veriframe_core.frames import FrameRejected, check_frame


def save(tmp_path: Path, image: Image.Image, name: str = "frame.png") -> Path:
    path = tmp_path / name
    image.save(path)
    return path


def test_a_good_frame_passes(tmp_path: Path) -> None:
    image = Image.new("RGB", (8, 6), (10, 20, 30))
    image.putpixel((3, 3), (200, 0, 0))
    frame = check_frame(save(tmp_path, image), 8, 6)
    assert (frame.width, frame.height, frame.format) == (8, 6, "PNG")


def test_a_blank_frame_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(FrameRejected, match="blank"):
        check_frame(save(tmp_path, Image.new("RGBA", (8, 6), (0, 0, 0, 0))), 8, 6)


def test_a_frame_of_another_size_is_rejected(tmp_path: Path) -> None:
    image = Image.effect_noise((8, 6), 50).convert("RGB")
    with pytest.raises(FrameRejected, match="8×6 pixels, 16×12 were asked for"):
        check_frame(save(tmp_path, image), 16, 12)


def test_a_truncated_or_missing_frame_is_rejected(tmp_path: Path) -> None:
    path = save(tmp_path, Image.effect_noise((64, 64), 50).convert("RGB"))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(FrameRejected, match="does not decode"):
        check_frame(path, 64, 64)
    with pytest.raises(FrameRejected, match="no frame"):
        check_frame(tmp_path / "missing.png", 64, 64)


def exr(tmp_path: Path, channels: dict[str, np.ndarray], name: str = "frame.exr") -> Path:
    path = tmp_path / name
    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION}, channels) as file:
        file.write(str(path))
    return path


def test_openexr_frames_are_read_single_layer_or_a_multilayer_files_combined_pass(
    tmp_path: Path,
) -> None:
    pixels = np.random.default_rng(1).random((6, 8, 4), dtype=np.float32) * 4  # beyond 1
    single = check_frame(exr(tmp_path, {"RGBA": pixels}), 8, 6)
    assert (single.width, single.height, single.format) == (8, 6, "OPEN_EXR")
    layered = {"ViewLayer.Depth.Z": pixels[..., 0], "ViewLayer.Combined": pixels}
    assert check_frame(exr(tmp_path, layered, "layers.exr"), 8, 6).format == "OPEN_EXR"
    with pytest.raises(FrameRejected, match="8×6 pixels, 16×12 were asked for"):
        check_frame(single.path, 16, 12)


def test_openexr_frames_blank_not_numbers_truncated_or_without_an_image_are_rejected(
    tmp_path: Path,
) -> None:
    with pytest.raises(FrameRejected, match="blank"):
        check_frame(exr(tmp_path, {"RGB": np.full((6, 8, 3), 0.5, np.float32)}), 8, 6)
    nan = np.ones((6, 8, 3), np.float32)
    nan[2, 3] = np.nan
    with pytest.raises(FrameRejected, match="not numbers"):
        check_frame(exr(tmp_path, {"RGB": nan}, "nan.exr"), 8, 6)
    depth_only = exr(tmp_path, {"ViewLayer.Depth.Z": np.ones((6, 8), np.float32)}, "z.exr")
    with pytest.raises(FrameRejected, match="has no RGB image"):
        check_frame(depth_only, 8, 6)
    truncated = exr(
        tmp_path, {"RGB": np.random.default_rng(2).random((64, 64, 3), np.float32)}, "cut.exr"
    )
    truncated.write_bytes(truncated.read_bytes()[:300])
    with pytest.raises(FrameRejected, match="does not decode as OpenEXR"):
        check_frame(truncated, 64, 64)


def test_gpu_failures_in_the_log_are_found_and_library_probes_are_not() -> None:
    log = "\n".join(
        [
            "00:00.256  cycles | WARNING CUEW initialization failed: Error opening the library",
            "00:00.256  cycles | WARNING HIPEW initialization failed: Error opening HIP library",
            "Fra:1 Mem:12M | Sample 3/16",
            "CUDA error: Out of memory in cuMemAlloc(&device_pointer, size)",
            "OptiX error: OPTIX_ERROR_LAUNCH_FAILURE",
            "System is out of GPU memory",
        ]
    )
    assert gpu_errors(log) == [
        "CUDA error: Out of memory in cuMemAlloc(&device_pointer, size)",
        "OptiX error: OPTIX_ERROR_LAUNCH_FAILURE",
        "System is out of GPU memory",
    ]
    assert gpu_errors("Saved: 'frame.png'\nTime: 00:01.06") == []


@pytest.mark.parametrize(
    ("available", "expected"),
    [
        ({"CUDA": ["RTX 4090"], "OPTIX": ["RTX 4090"]}, "OPTIX"),
        ({"CUDA": ["GTX 1080"]}, "CUDA"),
        ({"HIP": ["RX 7900"], "ONEAPI": ["Arc A770"]}, "HIP"),
        ({"ONEAPI": ["Arc A770"], "METAL": ["M2"]}, "ONEAPI"),
        ({"METAL": ["Apple M2"]}, "METAL"),
        ({}, "CPU"),
    ],
)
def test_the_best_backend_with_a_device_is_chosen(available: dict, expected: str) -> None:
    assert choose_device(available)[0] == expected


def test_a_device_can_be_asked_for() -> None:
    both = {"OPTIX": ["RTX 4090"], "CUDA": ["RTX 4090"]}
    assert choose_device(both, "cuda") == ("CUDA", ["RTX 4090"])
    assert choose_device(both, "CPU") == ("CPU", [])
    with pytest.raises(ValueError, match=r"no HIP device .*found: OPTIX, CUDA"):
        choose_device(both, "HIP")
    with pytest.raises(ValueError, match="unknown device 'VULKAN'"):
        choose_device(both, "VULKAN")
