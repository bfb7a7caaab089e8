"""Where the course runs: smoke mode, the compute device and seeding.

Smoke mode is the one switch that makes every lesson tiny (few images, one or
two epochs) so that CI can run the whole course in minutes. It is read here
and nowhere else: notebooks call :func:`smoke_mode` or :func:`full_or_smoke`.

The environment variables the course reads, all here:

* ``VAECOURSE_SMOKE`` and ``CI`` are yes/no switches read by :func:`env_flag`:
  ``1``, ``true``, ``yes``, ``on`` mean yes; ``0``, ``false``, ``no``, ``off``
  or an empty value mean no (any case); anything else is an error that says so.
* ``VAECOURSE_DEVICE`` forces a device (``cpu``, ``cuda``, ``cuda:1``, ``mps``);
  only devices this machine has are accepted (:func:`available_devices`).
"""

from __future__ import annotations

import os
import platform
import random
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

YES = ("1", "true", "yes", "on")
NO = ("0", "false", "no", "off", "")


def env_flag(name: str, default: bool = False) -> bool:
    """The yes/no environment variable ``name`` (``default`` when unset); an unknown word is a ValueError.

    One parser for every switch, so that ``no`` or ``off`` means the same to all of them.
    """
    if name not in os.environ:
        return default
    word = os.environ[name].strip().lower()
    if word in YES:
        return True
    if word in NO:
        return False
    raise ValueError(f"{name}={os.environ[name]!r} is not a yes/no value: set it to one of "
                     f"{', '.join(YES)} (yes) or {', '.join(w for w in NO if w)} (no), or unset it.")


def smoke_mode() -> bool:
    """True when ``VAECOURSE_SMOKE`` says yes, or it is unset and ``CI`` says yes (``VAECOURSE_SMOKE=0`` wins)."""
    if "VAECOURSE_SMOKE" in os.environ:
        return env_flag("VAECOURSE_SMOKE")
    return env_flag("CI")


def full_or_smoke(full: T, smoke: T) -> T:
    """Pick the full-mode value, or the small one in smoke mode.

    >>> epochs = full_or_smoke(full=10, smoke=1)
    """
    return smoke if smoke_mode() else full


def available_devices() -> list[str]:
    """The devices this machine can train on: ``cpu``, then ``cuda`` and ``cuda:0`` … for each GPU, then ``mps``."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def get_device(prefer: str | None = None) -> torch.device:
    """Choose the compute device once: CUDA, then Apple MPS, then the CPU.

    ``prefer`` (or the ``VAECOURSE_DEVICE`` environment variable) forces a
    device such as ``"cpu"``; asking for one this machine does not have (or
    one that cannot train, such as ``meta``) is a clear error naming those it has.
    """
    asked = f"Device {prefer!r} was asked for" if prefer else ""
    if not prefer and os.environ.get("VAECOURSE_DEVICE", "").strip():
        prefer = os.environ["VAECOURSE_DEVICE"]
        asked = f"VAECOURSE_DEVICE={prefer!r} asks for a device"
    if prefer:
        return _checked_device(prefer.strip().lower(), asked)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _checked_device(name: str, asked: str) -> torch.device:
    """``torch.device(name)`` if this machine has it, else a RuntimeError that lists the devices it has."""
    fix = (f"this machine has {', '.join(available_devices())}. Unset VAECOURSE_DEVICE (or pass prefer=None) "
           "to choose automatically.")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise RuntimeError(f"{asked}, but {name!r} is not a device name; {fix}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{asked}, but no CUDA GPU is available; {fix}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"{asked}, but Apple MPS is not available; {fix}")
    if device.type not in ("cpu", "cuda", "mps"):
        raise RuntimeError(f"{asked}, but the course trains only on cpu, cuda or mps; {fix}")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise RuntimeError(f"{asked}, but there is no GPU number {device.index}; {fix}")
    return device


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
