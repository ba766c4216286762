"""TorchScript artifacts converted to ONNX once per host, checked, and kept beside the artifact cache.

A ``torchscript`` card runs on OpenVINO or ONNX Runtime through an ONNX copy of its network, made here
without any code in the card:

- only a file the artifact store verified is converted: the caller passes it with the card's sha256, which
  names the result, ``<home>/artifacts/derived/<sha256>.<CONVERTER>.onnx``;
- the conversion is torch's ONNX export (``runners._export``, batch and spatial axes dynamic), written under a
  temporary name, then run by ONNX Runtime on the first real batch and compared with the TorchScript
  network's output on that batch: only when the largest difference is within the card's exact-mode
  tolerance is it renamed into place, with a JSON manifest beside it (its own sha256 and size, the source
  sha256, the converter, torch's version, the check);
- every later use re-hashes the ONNX file against its manifest; a mismatch (a corrupted or replaced file) is
  ignored and converted again, never run.

Converting needs torch once; running the converted file does not. ``CONVERTER`` changes whenever the export
changes, so an old conversion is never mistaken for a new one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from deepinfer._exceptions import DeepInferError, PipelineError, RuntimeUnavailableError
from deepinfer._files import write_json_atomic
from deepinfer._metrics import max_abs_diff
from deepinfer.runners._runtimes import runtime_version
from deepinfer.store import exclusive_lock, lock_if_free, remove_path, sha256_file

FloatArray = npt.NDArray[np.float32]
CONVERTER = "onnx17-v1"  # the export: torch.onnx (TorchScript exporter), opset 17, dynamic batch + spatial axes


@dataclass(frozen=True)
class Derived:
    """Where the ONNX copy of one verified artifact lives."""

    folder: Path
    source_sha256: str

    @property
    def onnx(self) -> Path:
        return self.folder / f"{self.source_sha256}.{CONVERTER}.onnx"

    @property
    def manifest(self) -> Path:
        return self.folder / f"{self.source_sha256}.{CONVERTER}.json"

    def verified(self) -> Path | None:
        """The ONNX copy when it exists and matches its manifest (sha256 and size), else None."""
        try:
            record: Any = json.loads(self.manifest.read_text(encoding="utf-8"))
            size = self.onnx.lstat().st_size
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or self.onnx.is_symlink():
            return None
        expected = (record.get("source_sha256"), record.get("converter"), record.get("size"))
        if expected != (self.source_sha256, CONVERTER, size) or record.get("sha256") != sha256_file(self.onnx):
            return None
        return self.onnx


def derived_folder(home: Path) -> Path:
    return home / "artifacts" / "derived"


_SOURCE = re.compile(r"\.?([0-9a-f]{64})\.")


def prune_derived(home: Path, keep: set[str] | None = None, *, dry_run: bool = False) -> list[Path]:
    """Remove the conversions that can no longer be used: made by another :data:`CONVERTER`, leftovers of an
    interrupted conversion, anything else in the folder (links are removed, never followed), and (given
    ``keep``) the conversions of artifacts whose sha256 is not in ``keep``. Each source's files go while its
    lock is held; a conversion running now (its lock taken) is left alone, and lock files stay (removing one
    could let two processes hold different locks for the same conversion)."""
    folder = derived_folder(home)
    if folder.is_symlink() or not folder.is_dir():
        return []
    strays: list[Path] = []
    by_source: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        match = _SOURCE.match(path.name)
        if match is None or path.is_symlink():
            strays.append(path)
        else:
            by_source.setdefault(match.group(1), []).append(path)
    doomed = _remove_all(strays, dry_run)
    for source, paths in by_source.items():
        derived = Derived(folder, source)
        lock = folder / f"{source}.lock"
        usable = {derived.onnx.name, derived.manifest.name} if keep is None or source in keep else set()
        unwanted = [p for p in paths if p != lock and p.name not in usable]
        if lock.exists() and not lock.is_file():
            unwanted.append(lock)  # something else under the lock's name: not a lock
        if not unwanted:
            continue
        if not lock.is_file():  # no conversion of this source has ever started here
            doomed += _remove_all(unwanted, dry_run)
            continue
        try:
            with lock_if_free(lock) as free:
                if free:
                    doomed += _remove_all(unwanted, dry_run)
        except OSError:  # the lock cannot be opened: leave this source alone
            continue
    return doomed


def _remove_all(paths: list[Path], dry_run: bool) -> list[Path]:
    if not dry_run:
        for path in paths:
            remove_path(path)
    return paths


def converted_onnx(
    home: Path,
    source: Path,
    source_sha256: str,
    batch: FloatArray,
    tolerance: float,
    reference: FloatArray | None = None,
) -> Path:
    """The checked ONNX copy of the verified TorchScript file ``source`` (made now when absent).

    ``batch`` is a real input of the network; ``reference`` the TorchScript network's output on it when the
    caller has it already. Raises :class:`PipelineError` (nothing kept) when the copy disagrees by more than
    ``tolerance``, and :class:`~deepinfer.RuntimeUnavailableError` when torch is needed and absent."""
    derived = Derived(derived_folder(home), source_sha256)
    found = derived.verified()
    if found is not None:
        return found
    derived.folder.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(derived.folder / f"{source_sha256}.lock"):
        found = derived.verified()  # another process may have converted it meanwhile
        if found is not None:
            return found
        return _convert(derived, source, batch, tolerance, reference)


def _convert(derived: Derived, source: Path, batch: FloatArray, tolerance: float, reference: FloatArray | None) -> Path:
    from deepinfer.runners._export import export_torchscript_to_onnx
    from deepinfer.runners._onnx import OnnxNetwork
    from deepinfer.runners._torchscript import TorchScriptNetwork

    staging = derived.folder / f".{derived.onnx.name}.{secrets.token_hex(8)}.partial.onnx"
    try:
        if reference is None:
            reference = TorchScriptNetwork(source)(batch)
        try:
            export_torchscript_to_onnx(source, staging, tuple(int(n) for n in batch.shape), dynamic_spatial=True)
        except (DeepInferError, KeyboardInterrupt):
            raise
        except Exception as error:  # the exporter's own errors (a missing package, an unsupported operator)
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise RuntimeUnavailableError(f"{source.name}: torch's ONNX export failed: {first_line}") from error
        converted = OnnxNetwork(staging, providers="CPUExecutionProvider")(batch)
        difference = output_difference(reference, converted)
        if difference > tolerance:
            raise PipelineError(
                f"{source.name}: the ONNX conversion differs from the TorchScript network by {difference:.3g} "
                f"(more than the card's exact-mode tolerance {tolerance:g}); it is not used"
            )
        record = {
            "source_sha256": derived.source_sha256,
            "converter": CONVERTER,
            "sha256": sha256_file(staging),
            "size": staging.stat().st_size,
            "torch": runtime_version("torchscript"),
            "check": {"input_shape": list(batch.shape), "max_abs_diff": difference},
        }
        os.replace(staging, derived.onnx)
        write_json_atomic(derived.manifest, record)
    finally:
        staging.unlink(missing_ok=True)
    return derived.onnx


def output_difference(first: FloatArray, second: FloatArray) -> float:
    """The largest absolute difference of two network outputs (infinite when their shapes differ)."""
    return max_abs_diff(first, second) if first.shape == second.shape else float("inf")
