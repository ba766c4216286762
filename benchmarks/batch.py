"""``deepinfer batch --workers 2`` against a loop of ``deepinfer run`` over the same cohort of brain volumes, on
one machine, in one run: cases per hour and peak memory, and whether the masks agree voxel for voxel. With
``--ray``, also the same batch on a single-node Ray cluster started here (``ray start --head`` with one CPU per
worker, stopped by its PIDs afterwards): ``deepinfer batch --ray ADDRESS --workers 2``, against the local batch.

    .venv/bin/python benchmarks/batch.py [--workers 2] [--copies 8] [--runtime torchscript] [--ray] [--no-loop]
                                         [--deepbet] [--also RUNTIME:PRECISION ...] [--repeat N]

With ``--deepbet``, also a shell loop of deepbet 1.0.2's own extraction (``BrainExtraction(...).run``, what its
CLI runs per file; one fresh process per case, given the same weight files, on the CPU), with each batch mask's
Dice against deepbet's. ``--also openvino:fast`` adds a batch with another ``--runtime`` and ``--precision``
(repeatable; with ``--deepbet`` and no ``--also``, ``openvino:exact`` and ``openvino:fast`` are added); with
``--repeat N`` the deepbet loop and the batches run N times, interleaved (the order rotates from one repeat to
the next), and the table gives each one's median wall time, its median CPU seconds (the whole process tree's,
workers included) and the load averages around it.

The cohort (``--copies`` volumes, at least 8): Colin27 with skull (Debian mricron-data) and the MNI152 2009a
template (from the nilearn wheel, fetched by the card's example artifact), each as is, reoriented to LAS and
resampled to 1.2 and 1.5 mm, flipped left-right, and cropped. Each command runs in its own process tree; peak
memory is the largest resident set of one process (``deepinfer run``'s own; for the batch, its workers' peaks as
the manifest records them, and the whole batch's sum of the worker peaks as the memory it holds at once).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from _measure import deepbet_weights, mask_dice, repo_root

sys.path.insert(0, str(repo_root() / "tests"))
from ray_cluster import RayCluster
from realparts import COLIN27

CARD = "brain-extraction-deepbet"
DEEPINFER = str(Path(sys.executable).with_name("deepinfer"))
# With --deepbet and no --also: the first batch's configuration (the old row) and these, the fastest measured
DEEPBET_ALSO = ("openvino:exact", "openvino:fast")


def resampled(image: sitk.Image, code: str, spacing: float) -> sitk.Image:
    flipped = sitk.DICOMOrient(image, code)
    old_size = np.asarray(flipped.GetSize())
    size = np.round(old_size * np.asarray(flipped.GetSpacing()) / spacing).astype(int)
    centre = np.asarray(flipped.TransformContinuousIndexToPhysicalPoint(((old_size - 1) / 2).tolist()))
    direction = np.asarray(flipped.GetDirection()).reshape(3, 3)
    origin = centre - direction @ (spacing * (size - 1) / 2)
    return sitk.Resample(
        flipped, size.tolist(), sitk.Transform(), sitk.sitkLinear, origin.tolist(), [spacing] * 3,
        flipped.GetDirection(), 0.0, flipped.GetPixelID(),
    )  # fmt: skip


def mni152() -> Path:
    from deepinfer.registry import default_registry
    from deepinfer.store import ArtifactStore

    loaded = default_registry().find(CARD)
    return ArtifactStore().fetch(loaded.card.artifact("mni152_t1"), base_dir=loaded.folder)


def write_cohort(folder: Path, count: int) -> list[Path]:
    template = folder.parent / "mni152.nii.gz"  # the cached artifact has no image suffix
    shutil.copyfile(mni152(), template)
    sources = {"colin27": sitk.ReadImage(str(COLIN27), sitk.sitkFloat32), "mni152": sitk.ReadImage(str(template))}
    variants = []
    for name, image in sources.items():
        size = image.GetSize()
        variants += [
            (f"{name}", image),
            (f"{name}_las_1.2mm", resampled(image, "LAS", 1.2)),
            (f"{name}_flipped", sitk.Flip(image, [True, False, False])),
            (f"{name}_las_1.5mm", resampled(image, "LAS", 1.5)),
            (f"{name}_crop", image[8 : size[0] - 8, 8 : size[1] - 8, 4 : size[2]]),
        ]
    paths = []
    for index in range(count):
        name, image = variants[index % len(variants)]
        path = folder / f"{name}{'' if index < len(variants) else f'_{index}'}.nii.gz"
        sitk.WriteImage(image, str(path))
        paths.append(path)
    return paths


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and the peak RSS (MB) of the largest process of the command's tree."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(argv, check=False, stdout=subprocess.DEVNULL)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return time.perf_counter() - start, max(peak, before) / 1024


def batch(card: str, cohort: Path, out: Path, workers: int, runtime: str, *more: str) -> float:
    """Wall seconds of one ``deepinfer batch`` over ``cohort``."""
    seconds, _ = timed([DEEPINFER, "batch", card, "--inputs", str(cohort), "-o", str(out), "--workers", str(workers),
                        "--progress", "none", "--runtime", runtime, *more])  # fmt: skip
    return seconds


def children_cpu() -> float:
    """CPU seconds (user + system) of every waited-for descendant so far (a batch's workers included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def same_masks(cohort: list[Path], out: Path, reference: Path, loop: bool) -> int:
    """How many cases' masks in ``out`` equal the reference's voxel for voxel (a loop's ``NAME`` files, or
    another batch's ``CASE/BrainMask.nii.gz``)."""
    same = 0
    for path in cohort:
        ours = sitk.GetArrayFromImage(sitk.ReadImage(str(out / path.name[:-7] / "BrainMask.nii.gz")))
        other = reference / path.name if loop else reference / path.name[:-7] / "BrainMask.nii.gz"
        same += bool(np.array_equal(ours, sitk.GetArrayFromImage(sitk.ReadImage(str(other)))))
    return same


DEEPBET_CASE = """
import warnings
warnings.filterwarnings("ignore")
from deepbet.bet import BrainExtraction
BrainExtraction(no_gpu=True, model_path={model!r}, bbox_model_path={bbox!r}).run({source!r}, mask_path={target!r})
"""


def deepbet_loop(cohort: list[Path], out: Path) -> tuple[float, float]:
    """Wall seconds and the largest peak RSS (MB) of deepbet's own extraction run once per case, each in a fresh
    process (a shell loop over its CLI)."""
    weights = deepbet_weights()
    out.mkdir()
    start, peaks = time.perf_counter(), []
    for path in cohort:
        code = DEEPBET_CASE.format(source=str(path), target=str(out / path.name), **weights)
        peaks.append(timed([sys.executable, "-c", code])[1])
    return time.perf_counter() - start, max(peaks)


def worker_peak(out: Path) -> float:
    from deepinfer.batch import read_manifest

    return max(float(row["peak_memory_mb"]) for row in read_manifest(out / "manifest.csv") if row["peak_memory_mb"])


def on_ray(root: Path, card: str, cohort: Path, workers: int, runtime: str) -> tuple[float, Path]:
    """Wall seconds of the batch on a single-node Ray cluster with ``workers`` CPUs (cluster start not counted)."""
    from deepinfer.store import ArtifactStore

    nodes = Path(tempfile.mkdtemp(prefix="dray-"))  # Ray's socket paths must stay short
    cluster = RayCluster(nodes, ArtifactStore().home)
    os.environ["RAY_AUTH_MODE"] = "disabled"
    try:
        cluster.start_node(cpus=workers)
        seconds = batch(card, cohort, root / "ray", workers, runtime, "--ray", cluster.address)
    finally:
        cluster.stop()
        shutil.rmtree(nodes, ignore_errors=True)
    return seconds, root / "ray"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument(
        "--runtime", default="torchscript", help="the same --runtime for all (auto measures per thread count)"
    )
    parser.add_argument("--precision", default="exact", help="the --precision of the first batch (and the loop)")
    parser.add_argument(
        "--also", action="append", default=[], metavar="RUNTIME:PRECISION", help="another batch configuration"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of the batches and the deepbet loop")
    parser.add_argument("--ray", action="store_true", help="also the batch on a single-node Ray cluster")
    parser.add_argument("--no-loop", dest="loop", action="store_false", help="skip the loop of deepinfer run")
    parser.add_argument("--deepbet", action="store_true", help="also a shell loop of deepbet's own extraction")
    args = parser.parse_args()
    from deepinfer.batch import read_manifest

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "cohort").mkdir()
        cohort = write_cohort(root / "cohort", max(args.copies, 8))
        n = len(cohort)
        subprocess.run([DEEPINFER, "pull", CARD, "--progress", "none"], check=True)
        print(f"cohort: {n} volumes; --runtime {args.runtime}; CPU cores: {os.cpu_count()}")
        print("| command | wall s | CPU s | cases/hour | peak RSS MB (one process) |")
        print("|---|---|---|---|---|")
        # the loop first, then the batch (both after the pull; the runtime choice is cached by the first run)
        loop_out = root / "loop"
        loop_out.mkdir()
        if args.loop:
            start = time.perf_counter()
            loop_peaks = []
            for path in cohort:
                _, peak = timed([DEEPINFER, "run", CARD, "-i", str(path), "-o", str(loop_out / path.name), "--progress",
                                 "none", "--runtime", args.runtime, "--precision", args.precision])  # fmt: skip
                loop_peaks.append(peak)
            loop_s = time.perf_counter() - start
            print(f"| loop of `deepinfer run` | {loop_s:.1f} | | {3600 * n / loop_s:.0f} | {max(loop_peaks):.0f} |")
        also = args.also or (list(DEEPBET_ALSO) if args.deepbet else [])
        configs = [(args.runtime, args.precision), *(tuple(item.split(":", 1)) for item in also)]
        runs = [f"{runtime}:{precision}" for runtime, precision in configs] + (["deepbet"] if args.deepbet else [])
        walls: dict[str, list[float]] = {run: [] for run in runs}
        cpus: dict[str, list[float]] = {run: [] for run in runs}
        loads = [os.getloadavg()]
        for repeat in range(args.repeat):
            for run in runs[repeat % len(runs) :] + runs[: repeat % len(runs)]:  # interleaved, rotating
                cpu = children_cpu()
                if run == "deepbet":
                    shutil.rmtree(root / "deepbet", ignore_errors=True)
                    seconds, deepbet_peak = deepbet_loop(cohort, root / "deepbet")
                else:
                    runtime, precision = run.split(":")
                    out = root / f"batch-{runtime}-{precision}"
                    shutil.rmtree(out, ignore_errors=True)
                    seconds = batch(CARD, root / "cohort", out, args.workers, runtime, "--precision", precision)
                walls[run].append(seconds)
                cpus[run].append(children_cpu() - cpu)
                loads.append(os.getloadavg())
        for run in runs:
            wall, cpu = float(np.median(walls[run])), float(np.median(cpus[run]))
            if run == "deepbet":
                name, peak_text = "loop of deepbet's own extraction", f"{deepbet_peak:.0f}"
            else:
                runtime, precision = run.split(":")
                out = root / f"batch-{runtime}-{precision}"
                name = f"`deepinfer batch --workers {args.workers} --runtime {runtime} --precision {precision}`"
                peak_text = f"{worker_peak(out):.0f} (a worker; {args.workers} at once)"
            print(f"| {name} | {wall:.1f} | {cpu:.1f} | {3600 * n / wall:.0f} | {peak_text} |")
        print("wall s of each repeat:", {run: [round(x, 1) for x in walls[run]] for run in runs})
        print("CPU s of each repeat:", {run: [round(x, 1) for x in cpus[run]] for run in runs})
        print("load averages (1, 5, 15 min) before and after each run:", [tuple(round(x, 1) for x in v) for v in loads])
        batch_s = float(np.median(walls[runs[0]]))
        shutil.copytree(root / f"batch-{args.runtime}-{args.precision}", root / "batch")
        if args.ray:
            ray_s, ray_out = on_ray(root, CARD, root / "cohort", args.workers, args.runtime)
            print(
                f"| `deepinfer batch --ray ADDRESS --workers {args.workers}` (one node, {args.workers} CPUs) | "
                f"{ray_s:.1f} | | {3600 * n / ray_s:.0f} | {worker_peak(ray_out):.0f} (an actor) |"
            )
        statuses = sorted({row["status"] for row in read_manifest(root / "batch" / "manifest.csv")})
        print(f"batch statuses: {', '.join(statuses)}")
        if args.loop:
            same = same_masks(cohort, root / "batch", loop_out, loop=True)
            print(
                f"throughput ratio batch / loop: {loop_s / batch_s:.2f}×; masks identical voxel for voxel: {same}/{n}"
            )
        if args.deepbet:
            deepbet_s = float(np.median(walls["deepbet"]))
            for run in runs[:-1]:
                runtime, precision = run.split(":")
                out = root / f"batch-{runtime}-{precision}"
                masks = [(out / p.name[:-7] / "BrainMask.nii.gz", root / "deepbet" / p.name) for p in cohort]
                dice = [mask_dice(ours, theirs) or 0.0 for ours, theirs in masks]  # (0: deepbet wrote no mask)
                print(
                    f"--runtime {runtime} --precision {precision}: throughput ratio batch / deepbet loop (medians): "
                    f"{deepbet_s / float(np.median(walls[run])):.2f}×, CPU s ratio "
                    f"{float(np.median(cpus['deepbet'])) / float(np.median(cpus[run])):.2f}×; Dice of the batch masks "
                    f"against deepbet's: min {min(dice):.5f}, median {float(np.median(dice)):.5f}"
                )
        if args.ray:
            same = same_masks(cohort, ray_out, root / "batch", loop=False)
            ray_statuses = sorted({row["status"] for row in read_manifest(ray_out / "manifest.csv")})
            print(
                f"Ray batch / local batch wall time: {ray_s / batch_s:.2f}× (statuses: {', '.join(ray_statuses)}); "
                f"masks identical to the local batch voxel for voxel: {same}/{n}"
            )
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
