"""deepinfer vs TAPS' own pipeline on the same real MR volume, in one run, each in a fresh process.

    .venv/bin/python benchmarks/taps.py [--volume PATH] [--crop] [--repeat N]

By default the volume is Colin27 (Debian mricron-data). ``--crop`` uses a 96×96×80 mm box of it
(a few windows) for a quick run. Prints a Markdown table: wall time, the pipeline's own time, peak RSS,
and the speed-up of each against TAPS' own pipeline (the reference).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _measure import Measurement, measure, repo_root, table

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")

TAPS = """
import json, time, warnings
warnings.filterwarnings("ignore")
start = time.perf_counter()
from taps.inference import segment
segment({source!r}, {target!r}, None, device="cpu", exact=True)
print(json.dumps({{"inner_s": time.perf_counter() - start}}))
"""

DEEPINFER = """
import json, time
start = time.perf_counter()
from pathlib import Path
from deepinfer._run import plan_outputs, run_model
from deepinfer.registry import default_registry
registry = default_registry()
card = registry.get("prostate-taps")
plan = plan_outputs(card, Path({target!r}))
run_model(card, {{"T2": Path({source!r})}}, plan, card_dir=registry.card_dir(card))
print(json.dumps({{"inner_s": time.perf_counter() - start}}))
"""


def crop_volume(source: Path, folder: Path) -> Path:
    import SimpleITK as sitk

    image = sitk.ReadImage(str(source))
    path = folder / "crop.nii.gz"
    sitk.WriteImage(image[42:138, 60:156, 50:130], str(path))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--volume", type=Path, default=COLIN27)
    parser.add_argument("--crop", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = crop_volume(args.volume, folder) if args.crop else args.volume
        # Warm the artifact cache first so neither run pays for the download.
        measure("warm-up", DEEPINFER.format(source=str(source), target=str(folder / "warm.nii.gz")))
        rows: list[Measurement] = []
        for _ in range(args.repeat):
            rows.append(
                measure(
                    "TAPS (reference)", TAPS.format(source=str(source), target=str(folder / "taps.nii.gz"))
                )
            )
            rows.append(
                measure("deepinfer", DEEPINFER.format(source=str(source), target=str(folder / "di.nii.gz")))
            )
        dice = _dice(folder / "taps.nii.gz", folder / "di.nii.gz")
    print(f"volume: {source.name if not args.crop else 'Colin27 crop 96x96x80 mm'}; repo {repo_root().name}")
    print(table(rows, "TAPS (reference)"))
    print(json.dumps({"dice_vs_taps": dice}))


def _dice(a: Path, b: Path) -> float:
    import numpy as np
    import SimpleITK as sitk

    x = sitk.GetArrayFromImage(sitk.ReadImage(str(a))) > 0
    y = sitk.GetArrayFromImage(sitk.ReadImage(str(b))) > 0
    total = int(x.sum() + y.sum())
    return 1.0 if total == 0 else float(2 * np.logical_and(x, y).sum() / total)


if __name__ == "__main__":
    main()
