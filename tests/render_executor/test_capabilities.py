"""The worker's profile from what Blender and the driver report: the device choice and VRAM
are testable without a GPU, from the reports a GPU machine gives."""

from __future__ import annotations

from render_executor.capabilities import nvidia_gpus, profile

SMI = "NVIDIA GeForce RTX 4090, 24564\nNVIDIA RTX A2000, 6138\n"
GPU_PROBE = {
    "blender_version": "4.2.3 LTS",
    "gpu_devices": {"CUDA": ["NVIDIA GeForce RTX 4090"], "OPTIX": ["NVIDIA GeForce RTX 4090"]},
}


def test_nvidia_smi_lines_give_each_gpu_and_its_memory() -> None:
    assert nvidia_gpus(SMI) == [
        {"name": "NVIDIA GeForce RTX 4090", "vram_mb": 24564},
        {"name": "NVIDIA RTX A2000", "vram_mb": 6138},
    ]
    assert nvidia_gpus("NVIDIA-SMI has failed\n") == []


def test_a_gpu_machine_offers_its_backends_best_first_and_its_largest_vram() -> None:
    caps = profile(GPU_PROBE, nvidia_gpus(SMI)).capabilities
    assert caps.devices == ["OPTIX", "CUDA", "CPU"]
    assert caps.gpu_model == "NVIDIA GeForce RTX 4090" and caps.vram_mb == 24564
    assert caps.blender_version == "4.2.3"  # the API's version pattern, without "LTS"


def test_a_worker_set_to_one_device_offers_only_that_one() -> None:
    assert profile(GPU_PROBE, [], "cuda").capabilities.devices == ["CUDA"]
    assert profile(GPU_PROBE, [], "CPU").capabilities.devices == ["CPU"]


def test_a_machine_without_a_gpu_offers_the_cpu() -> None:
    body = profile({"blender_version": "5.0.1", "gpu_devices": {}}, [])
    assert body.capabilities.devices == ["CPU"]
    assert "vram_mb" not in body.model_dump(exclude_unset=True)["capabilities"]
    assert body.hardware_specs is not None and body.hardware_specs["gpus"] == []
