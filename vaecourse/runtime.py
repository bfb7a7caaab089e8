"""Where the course runs: smoke mode, the compute device and seeding.

Smoke mode is the one switch that makes every lesson tiny (few images, one or
two epochs) so that CI can run the whole course in minutes. It is read here
and nowhere else: notebooks call :func:`smoke_mode` or :func:`full_or_smoke`.
"""

from __future__ import annotations

import os
import platform
import random
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

_FALSEY = {"", "0", "false", "no", "off"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in _FALSEY


def smoke_mode() -> bool:
    """True when ``VAECOURSE_SMOKE=1`` or ``CI`` is set (``VAECOURSE_SMOKE=0`` wins over ``CI``)."""
    if "VAECOURSE_SMOKE" in os.environ:
        return _flag("VAECOURSE_SMOKE")
    return _flag("CI")


def full_or_smoke(full: T, smoke: T) -> T:
    """Pick the full-mode value, or the small one in smoke mode.

    >>> epochs = full_or_smoke(full=10, smoke=1)
    """
    return smoke if smoke_mode() else full


def get_device(prefer: str | None = None) -> torch.device:
    """Choose the compute device once: CUDA, then Apple MPS, then the CPU.

    ``prefer`` (or the ``VAECOURSE_DEVICE`` environment variable) forces a
    device such as ``"cpu"``; asking for one that is not there is a clear error.
    """
    prefer = prefer or os.environ.get("VAECOURSE_DEVICE") or None
    if prefer is not None:
        kind = torch.device(prefer).type
        if kind == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"Device {prefer!r} was asked for but no CUDA GPU is available. "
                "Unset VAECOURSE_DEVICE (or pass prefer=None) to use the CPU."
            )
        if kind == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(
                f"Device {prefer!r} was asked for but Apple MPS is not available. "
                "Unset VAECOURSE_DEVICE (or pass prefer=None) to use the CPU."
            )
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device) -> str:
    """One human line naming the device, for the top of a training lesson."""
    if device.type == "cuda":
        return f"Using GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Using Apple GPU (MPS)"
    return f"Using CPU ({torch.get_num_threads()} threads); a GPU is used automatically when present"


def device_record(device: torch.device) -> str:
    """The device as a checkpoint record names it: ``"NVIDIA H100 80GB HBM3"`` or ``"CPU (x86_64, 2 cores, ...)"``."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"CPU ({platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"
    return device.type


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch so a lesson gives the same figures on a re-run.

    Returns a CPU ``torch.Generator`` seeded the same way, for code that wants
    its own stream of random numbers.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
