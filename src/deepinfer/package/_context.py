"""The build context of a model image: deepinfer's dependencies for the image's Python, deepinfer itself, the
card's verified artifacts in the store's layout, the in-image card and the Dockerfile.

Inside the image everything lives under ``/opt/deepinfer`` (also ``DEEPINFER_HOME``), so the artifacts sit where
the store looks for cached files (``artifacts/sha256/<hex>``) and the in-image card names them as file sources
next to it: a run finds them without copying. The dependencies are installed once per Python version and
requirement set with ``pip install --target`` into ``<home>/package/site/<key>`` and hard-linked into each
context; torch is never installed (ONNX cards only).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from deepinfer._exceptions import RuntimeUnavailableError

IMAGE_ROOT = "/opt/deepinfer"
IMAGE_CARD = f"{IMAGE_ROOT}/card.json"
_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules")
_REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")
# Needed only for PNG reports, registry signatures and the HTTP server / thin client, never by a run inside the
# image (about 120 MB with their dependencies).
IMAGE_EXCLUDED = frozenset({"matplotlib", "cryptography", "fastapi", "uvicorn", "python-multipart", "httpx"})


def pinned_requirements(distribution: str = "deepinfer", runtime: str = "onnxruntime") -> list[str]:
    """deepinfer's own (non-optional) dependencies that a run with ``runtime`` needs, pinned to the versions
    installed here (other network runtimes than ``runtime`` and onnxruntime are left out)."""
    from deepinfer.runners import RUNTIMES

    unused = {name for name in RUNTIMES if name not in (runtime, "onnxruntime")}
    pins = []
    for requirement in importlib.metadata.requires(distribution) or []:
        if "extra ==" in requirement:
            continue
        match = _REQUIREMENT_NAME.match(requirement)
        if match and match.group(0).lower() not in IMAGE_EXCLUDED | unused:
            name = match.group(0)
            pins.append(f"{name}=={importlib.metadata.version(name)}")
    return sorted(pins)


def site_packages(home: Path, python: str, requirements: Sequence[str], log: Callable[[str], None]) -> Path:
    """A folder of the requirements installed for CPython ``python`` (e.g. "3.11"), built once and cached."""
    key = hashlib.sha256("\n".join([python, platform.machine(), *requirements]).encode()).hexdigest()[:16]
    target = home / "package" / "site" / key
    if (target / ".complete").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    log(f"installing deepinfer's dependencies for Python {python} (once; cached in {target})")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--target", str(staging), "--python-version", python, "--implementation", "cp"]
    command += ["--only-binary=:all:", *requirements]
    if python != f"{sys.version_info.major}.{sys.version_info.minor}":
        command.insert(4, "--no-compile")  # byte code of this Python would not load there
    done = subprocess.run(command, capture_output=True, encoding="utf-8", errors="replace", check=False)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = " | ".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeUnavailableError(f"pip could not install the image's dependencies: {tail}")
    (staging / ".complete").write_text("\n".join(requirements) + "\n", encoding="utf-8")
    try:
        os.replace(staging, target)
    except OSError:  # another build finished first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def link_or_copy(source: str | Path, target: str | Path) -> None:
    """A hard link where the file system allows (within one disk), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def link_tree(source: Path, target: Path) -> None:
    """Copy a folder by hard links where possible (see :func:`link_or_copy`)."""
    shutil.copytree(source, target, copy_function=link_or_copy, ignore=_SKIPPED, symlinks=False)


def copy_deepinfer(target: Path, python: str) -> None:
    """This deepinfer's package (sources and package data) into ``target/deepinfer``, byte-compiled when the
    image's Python is this one."""
    package = Path(__file__).resolve().parents[1]
    shutil.copytree(package, target / "deepinfer", ignore=_SKIPPED)
    if python == f"{sys.version_info.major}.{sys.version_info.minor}":
        import compileall

        compileall.compile_dir(target / "deepinfer", quiet=2, ddir=f"{IMAGE_ROOT}/lib/deepinfer")


def dockerfile(base_image_id: str, runtime: str) -> str:
    """The image: the base, then the layers that change least first; the network runtime fixed (no per-run
    measuring of ``auto``, the same result on every machine)."""
    environment = {
        "DEEPINFER_RUNTIME": runtime,
        "DEEPINFER_PRECISION": "exact",
        "PYTHONPATH": f"{IMAGE_ROOT}/lib:{IMAGE_ROOT}/site",
        "DEEPINFER_HOME": IMAGE_ROOT,
        "DEEPINFER_IMAGE_CARD": IMAGE_CARD,
        "HOME": "/tmp",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    lines = [
        f"FROM {base_image_id}",
        f"COPY site {IMAGE_ROOT}/site",
        f"COPY lib {IMAGE_ROOT}/lib",
        f"COPY artifacts {IMAGE_ROOT}/artifacts",
        f"COPY card.json {IMAGE_CARD}",
        "ENV " + " ".join(f"{key}={value}" for key, value in environment.items()),
        "WORKDIR /tmp",
        'ENTRYPOINT ["python3", "-m", "deepinfer.container"]',
    ]
    return "\n".join(lines) + "\n"
