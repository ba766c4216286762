"""deepinfer vs TAPS' own pipeline on the same real MR volume, in one run, each in a fresh process.

    .venv/bin/python benchmarks/taps.py [--volume PATH] [--repeat N]

By default the volume is the T2-like probe made from Colin27 (Debian mricron-data) that the parity test uses
(TAPS refuses to write a blank mask, and on a plain T1 brain it finds nothing). Prints a Markdown table: wall
time, the pipeline's own time, peak RSS, and the speed-up against TAPS' own pipeline (the reference), plus the
Dice of the two masks.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _measure import Measurement, compile_bytecode, mask_dice, measure, repo_root, table

sys.path.insert(0, str(repo_root() / "tests"))
from realparts import COLIN27, write_t2_like

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
from deepinfer.run import plan_outputs, run_model
from deepinfer.registry import default_registry
registry = default_registry()
loaded = registry.find("prostate-taps")
card = loaded.card
plan = plan_outputs(card, Path({target!r}))
run_model(card, {{"T2": Path({source!r})}}, plan, card_dir=loaded.folder)
print(json.dumps({{"inner_s": time.perf_counter() - start}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volume", type=Path, default=None, help="default: the T2-like Colin27 probe")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    compile_bytecode()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = args.volume or write_t2_like(COLIN27, folder / "t2_like.nii.gz")
        # Warm the artifact cache first so neither run pays for the download.
        measure("warm-up", DEEPINFER.format(source=str(source), target=str(folder / "warm.nii.gz")))
        rows: list[Measurement] = []
        for _ in range(args.repeat):
            rows.append(
                measure("TAPS (reference)", TAPS.format(source=str(source), target=str(folder / "taps.nii.gz")))
            )
            rows.append(measure("deepinfer", DEEPINFER.format(source=str(source), target=str(folder / "di.nii.gz"))))
        dice = mask_dice(folder / "taps.nii.gz", folder / "di.nii.gz")
    print(f"volume: {args.volume or 'T2-like Colin27 probe (tests/realparts.py)'}")
    print(table(rows, "TAPS (reference)"))
    print(json.dumps({"dice_vs_taps": dice}))


if __name__ == "__main__":
    main()
