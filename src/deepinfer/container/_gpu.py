"""Whether a container gets a GPU: the card's wish (none / optional / required), the GPUs present, the user's
choice (``DEEPINFER_GPU``: ``all``, a device index, or ``none``)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

from deepinfer._exceptions import RuntimeUnavailableError, UsageError

GPU_VARIABLE = "DEEPINFER_GPU"


def nvidia_gpu_count() -> int:
    """The number of NVIDIA GPUs ``nvidia-smi -L`` lists (0 without the tool or a driver)."""
    program = shutil.which("nvidia-smi")
    if program is None:
        return 0
    try:
        listed = subprocess.run(
            [program, "-L"], capture_output=True, encoding="utf-8", errors="replace", timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return 0
    if listed.returncode != 0:
        return 0
    return sum(1 for line in listed.stdout.splitlines() if line.startswith("GPU "))


def gpu_device(
    card_ref: str, wanted: str, selection: str | None, count: Callable[[], int] = nvidia_gpu_count
) -> str | None:
    """The device to give the container (``all`` or an index), or None for no GPU.

    Raises :class:`RuntimeUnavailableError` when the card requires a GPU and none is present (or the user
    turned GPUs off), :class:`UsageError` for a device index this machine does not have."""
    choice = (selection or "all").strip().lower()
    if wanted == "none":
        return None
    if choice != "all" and choice != "none" and not choice.isdigit():
        raise UsageError(f"{GPU_VARIABLE}={selection!r}: use all, none or a device index such as 0")
    if choice == "none":
        if wanted == "required":
            raise RuntimeUnavailableError(f"{card_ref} requires a GPU, and GPUs are turned off ({GPU_VARIABLE}=none)")
        return None
    available = count()
    if available == 0:
        if wanted == "required":
            raise RuntimeUnavailableError(
                f"{card_ref} requires an NVIDIA GPU and none was found on this machine (nvidia-smi lists none)"
            )
        return None
    if choice.isdigit() and int(choice) >= available:
        raise UsageError(f"GPU {choice} does not exist: this machine has {available} (0..{available - 1})")
    return choice
