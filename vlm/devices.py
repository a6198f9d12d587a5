"""Choosing the training device and precision: CUDA > MPS > CPU unless told otherwise.

MPS is skipped on macOS 26 or later (a Metal crash in backward passes on those releases), with a
logged warning; ask for it explicitly to try anyway.
"""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass

from cadlib.vocabulary import Device

log = logging.getLogger(__name__)

MPS_BROKEN_FROM_MACOS = 26


@dataclass(frozen=True, slots=True)
class DeviceChoice:
    device: str  # "cuda" | "mps" | "cpu"
    precision: str  # "bf16" | "fp16" | "fp32"
    note: str = ""


def _macos_major(mac_version: str | None) -> int | None:
    if not mac_version:
        return None
    try:
        return int(mac_version.split(".")[0])
    except ValueError:
        return None


def _cpu_has_bf16() -> bool:
    """Whether the CPU runs bf16 matrix products natively (AVX512-BF16 or AMX), where bf16 autocast
    is faster than fp32 rather than slower."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def select_device(
    requested: str = "auto",
    precision: str = "auto",
    *,
    cuda: bool | None = None,
    bf16: bool | None = None,
    mps: bool | None = None,
    system: str | None = None,
    mac_version: str | None = None,
    cpu_bf16: bool | None = None,
) -> DeviceChoice:
    """The device and precision to train on.

    Args:
        requested: "auto" (CUDA > MPS > CPU), or "cuda" / "mps" / "cpu" (an error if unavailable).
        precision: "auto" (bf16 on CUDA that supports it, else fp16 on CUDA; bf16 autocast on a CPU
            with bf16 instructions; fp32 elsewhere) or "bf16" / "fp16" / "fp32".
        cuda, bf16, mps, system, mac_version, cpu_bf16: what the machine offers; detected when None
            (tests pass them to fake a machine).
    """
    import torch

    cuda = torch.cuda.is_available() if cuda is None else cuda
    mps = (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()) if mps is None else mps
    system = platform.system() if system is None else system
    mac_version = (platform.mac_ver()[0] if system == "Darwin" else "") if mac_version is None else mac_version
    note = ""
    if requested == "auto":
        if cuda:
            device = "cuda"
        elif mps and system == "Darwin" and (_macos_major(mac_version) or 0) >= MPS_BROKEN_FROM_MACOS:
            device = "cpu"
            note = (f"MPS skipped on macOS {mac_version} (training crashes in Metal on macOS "
                    f"{MPS_BROKEN_FROM_MACOS}+); using the CPU. Set device: mps in the recipe to try it anyway")
            log.warning(note)
        elif mps:
            device = "mps"
        else:
            device = "cpu"
    elif requested in tuple(Device) and requested != Device.AUTO:
        if (requested == "cuda" and not cuda) or (requested == "mps" and not mps):
            raise ValueError(f"device {str(requested)!r} was asked for but is not available on this machine")
        device = requested
    else:
        raise ValueError(f"unknown device {str(requested)!r}: expected {', '.join(Device)}")
    if precision == "auto":
        if device == "cuda":
            bf16 = torch.cuda.is_bf16_supported() if bf16 is None else bf16
            precision = "bf16" if bf16 else "fp16"
        elif device == "cpu" and (cpu_bf16 if cpu_bf16 is not None else _cpu_has_bf16()):
            # Measured on the 2-core dev machine (AVX512-BF16): ~1.6x the fp32 samples/s.
            precision = "bf16"
            note = note or "CPU mixed precision: bf16 autocast over fp32 weights"
        else:
            precision = "fp32"
    elif precision not in ("bf16", "fp16", "fp32"):
        raise ValueError(f"unknown precision {precision!r}: expected auto, bf16, fp16 or fp32")
    elif precision == "fp16" and device == "cpu":
        raise ValueError("precision fp16 needs a GPU; the CPU trains in fp32 or (where it has bf16 instructions) bf16")
    elif precision == "bf16" and device == "cpu":
        if not (cpu_bf16 if cpu_bf16 is not None else _cpu_has_bf16()):
            raise ValueError("precision bf16 on this CPU: it has no bf16 instructions (AVX512-BF16 or AMX); use fp32")
        note = note or "CPU mixed precision: bf16 autocast over fp32 weights"
    return DeviceChoice(device, precision, note)
