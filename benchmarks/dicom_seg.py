"""DICOM in and DICOM SEG out vs the NIfTI path, on the same volume, for brain-extraction-deepbet.

    .venv/bin/python benchmarks/dicom_seg.py [--volume PATH] [--repeat N]

The volume (default: Colin27 with skull, Debian mricron-data) is written once as NIfTI and once as a DICOM series
(one file per axial slice, shuffled names, as the tests write it). In one process, with the card's networks loaded
once (a warm cache, so every run times the same work), each repeat times:

- reading the input: ``read_volume`` of the NIfTI file vs of the DICOM folder (header scan, slice checks, voxels);
- a whole ``run_model`` call (read, pipeline, statistics, every file written) on the DICOM folder writing the mask
  as ``.nii.gz`` vs as ``.dcm`` (SEG + SR): the difference is what DICOM output costs inside a real run;
- the DICOM output alone, step by step: the source headers read again, the SEG built (highdicom), the SR built,
  both encoded, against writing the NIfTI mask (``write_volume``);
- the model's own run (``pipeline_s`` of the run's timings) that the SEG writing is compared with (target: ≤ 20 %).

Prints one Markdown table (median and minimum seconds) and the ratios of the medians.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

from _measure import repo_root

sys.path.insert(0, str(repo_root() / "tests"))
from realparts import COLIN27

CARD = "brain-extraction-deepbet"


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def write_inputs(volume: Path, folder: Path) -> tuple[Path, Path]:
    import SimpleITK as sitk

    from dicom_series import UID_ROOT, write_series

    image = sitk.Cast(sitk.ReadImage(str(volume)), sitk.sitkInt16)
    nifti = folder / "t1.nii.gz"
    sitk.WriteImage(image, str(nifti))
    write_series(image, folder / "series", f"{UID_ROOT}.90")
    return nifti, folder / "series"


def dicom_steps(card: Any, series: Path, mask: Any, rows: list[dict[str, Any]], folder: Path) -> dict[str, float]:
    """The DICOM output of one mask, step by step (seconds), as the run does it."""
    from deepinfer.imaging import (
        DicomAlgorithm,
        dicom_bytes,
        measurement_report,
        read_dicom_source,
        segment_labels,
        segmentation,
        write_volume,
    )

    algorithm = DicomAlgorithm(card.id, card.name, card.version)
    labels = card.outputs[0].labels
    times: dict[str, float] = {}
    times["headers read again"], source = timed(lambda: read_dicom_source(series, mask.metadata["series_uid"]))
    segments, _ = segment_labels(mask, labels)
    times["SEG built"], seg = timed(lambda: segmentation(mask, source, segments, algorithm, "benchmark"))
    volumes = {n: float(rows[n - 1]["volume_ml"]) for n in range(1, len(segments) + 1)}
    times["SR built"], report = timed(lambda: measurement_report(seg, source, volumes, algorithm, "benchmark"))
    times["SEG + SR encoded, written"], _ = timed(
        lambda: [(folder / name).write_bytes(dicom_bytes(ds)) for name, ds in (("s.dcm", seg), ("r.dcm", report))]
    )
    times["NIfTI mask written"], _ = timed(lambda: write_volume(mask, folder / "mask.nii.gz"))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volume", type=Path, default=COLIN27, help="a T1 with skull (default: Colin27)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from deepinfer.imaging import read_volume
    from deepinfer.registry import default_registry
    from deepinfer.run import run_model
    from deepinfer.runners import card_network_cache
    from deepinfer.store import ArtifactStore

    loaded = default_registry().find(CARD)
    card, store = loaded.card, ArtifactStore()
    networks = card_network_cache(card, lambda name: store.fetch(card.artifact(name)), None, home=store.home)
    samples: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        samples.setdefault(name, []).append(seconds)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        nifti, series = write_inputs(args.volume, folder)
        run_model(card, {"T1": nifti}, {"BrainMask": folder / "warm-up.nii.gz"}, networks=networks)  # runtime chosen
        for _ in range(args.repeat):
            add("read NIfTI input", timed(lambda: read_volume(nifti))[0])
            add("read DICOM series input", timed(lambda: read_volume(series))[0])
            runs: dict[str, Any] = {}
            for suffix in (".nii.gz", ".dcm"):
                target = folder / f"run{suffix}"
                run = functools.partial(run_model, card, {"T1": series}, {"BrainMask": target}, networks=networks)
                seconds, runs[suffix] = timed(run)
                add(f"run_model, DICOM in, {suffix} out", seconds)
            add("model run (pipeline_s)", runs[".dcm"].timings["pipeline_s"])
            mask = runs[".nii.gz"].volumes["BrainMask"]
            mask.metadata["series_uid"] = runs[".nii.gz"].inputs["T1"].metadata["dicom_series_uid"]
            for name, seconds in dicom_steps(card, series, mask, runs[".dcm"].statistics["BrainMask"], folder).items():
                add(name, seconds)
    medians = {name: median(values) for name, values in samples.items()}
    seg_write = sum(medians[k] for k in ("headers read again", "SEG built", "SR built", "SEG + SR encoded, written"))
    print(f"volume: {args.volume}, {args.repeat} repeat(s)\n\n| step | median s | min s |\n|---|---:|---:|")
    for name, value in medians.items():
        print(f"| {name} | {value:.3f} | {min(samples[name]):.3f} |")
    model = medians["model run (pipeline_s)"]
    extra = medians["run_model, DICOM in, .dcm out"] - medians["run_model, DICOM in, .nii.gz out"]
    print(f"\nSEG + SR output, all steps: {seg_write:.3f} s = {100 * seg_write / model:.1f} % of the model run")
    print(f"run_model .dcm out − .nii.gz out: {extra:.3f} s = {100 * extra / model:.1f} % of the model run")
    read_extra = medians["read DICOM series input"] - medians["read NIfTI input"]
    print(f"DICOM series read − NIfTI read: {read_extra:.3f} s = {100 * read_extra / model:.1f} % of the model run")


if __name__ == "__main__":
    main()
