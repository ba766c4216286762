"""deepinfer's brain-extraction-deepbet card vs deepbet's own pipeline on the same T1 volume, each in a fresh
process, in one run.

    .venv/bin/python benchmarks/deepbet.py [--volume PATH] [--repeat N] [--no-onnx]

The default volume is Colin27 with skull (Debian mricron-data). Rows: deepbet 1.0.2's ``BrainExtraction().run``
writing the mask (the reference), deepinfer running the TorchScript card (``run_model``: read, pipeline, write),
and deepinfer running the ONNX card that ``deepinfer card export-onnx`` makes (no torch in that process). Both
TorchScript runs use the same sha256-verified weight files. Prints the Markdown table (wall time, the workload's
own time, peak RSS, speed-up against deepbet), where the time goes, and the Dice of the masks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

from _measure import (
    Measurement,
    compile_bytecode,
    deepbet_weights,
    mask_dice,
    measure,
    median_table,
    repo_root,
    table,
)

sys.path.insert(0, str(repo_root() / "tests"))
from realparts import COLIN27

CARD = "brain-extraction-deepbet"

DEEPBET = """
import json, time, warnings
warnings.filterwarnings("ignore")
start = time.perf_counter()
import torch
imported = time.perf_counter()
from deepbet.bet import BrainExtraction
networks = {{}}

class Timed:
    def __init__(self, module, key):
        self.module, self.key = module, key
    def parameters(self):
        return self.module.parameters()
    def __call__(self, batch):
        begin = time.perf_counter()
        result = self.module(batch)
        networks[self.key] = time.perf_counter() - begin
        return result

extraction = BrainExtraction(no_gpu=True, model_path={model!r}, bbox_model_path={bbox!r})
extraction.model, extraction.bbox_model = Timed(extraction.model, "model"), Timed(extraction.bbox_model, "bbox")
extraction.run({source!r}, mask_path={target!r})
end = time.perf_counter()
parts = {{"import torch": imported - start, **{{f"network {{k}}": v for k, v in networks.items()}}}}
parts["everything else"] = end - start - sum(parts.values())
print(json.dumps({{"inner_s": end - start, "parts": parts}}))
"""

DEEPINFER = """
import json, time
start = time.perf_counter()
imported = start
if {torch!r}:
    import torch
    imported = time.perf_counter()
from pathlib import Path
import deepinfer.pipeline._pipeline as pipeline_module
from deepinfer.run import run_model
from deepinfer.card import load_card
from deepinfer.registry import default_registry
steps = {{}}

def timed_run_steps(step_list, state):  # run_steps with a stopwatch per step (same order, same work)
    for step in step_list:
        begin = time.perf_counter()
        step.apply(state)
        key = "network " + step.network if step.name == "infer" else step.name
        steps[key] = steps.get(key, 0.0) + time.perf_counter() - begin
    return state.outputs

pipeline_module.run_steps = timed_run_steps
if {card_file!r}:
    card, card_dir = load_card(Path({card_file!r})), Path({card_file!r}).parent
else:
    registry = default_registry()
    loaded = registry.find({card!r})
    card, card_dir = loaded.card, loaded.folder
run_model(card, {{"T1": Path({source!r})}}, {{"BrainMask": Path({target!r})}}, card_dir=card_dir)
end = time.perf_counter()
parts = {{"import torch": imported - start, **steps}}
parts["everything else"] = end - start - sum(parts.values())
print(json.dumps({{"inner_s": end - start, "parts": parts}}))
"""


def export_onnx_card(folder: Path) -> Path:
    target = folder / "onnx-card"
    command = [sys.executable, "-m", "deepinfer", "card", "export-onnx", CARD, "-o", str(target)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return target / f"{CARD}-onnx.json"


def run_deepinfer(label: str, source: Path, target: Path, card_file: Path | None = None) -> Measurement:
    code = DEEPINFER.format(
        torch=card_file is None, card_file=str(card_file or ""), card=CARD, source=str(source), target=str(target)
    )
    return measure(label, code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volume", type=Path, default=COLIN27, help="a T1 with skull (default: Colin27)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX card (and its export)")
    args = parser.parse_args()
    compile_bytecode()
    weights = deepbet_weights()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        onnx_card = None if args.no_onnx else export_onnx_card(folder)
        run_deepinfer("warm-up", args.volume, folder / "warm.nii.gz")  # page cache, pyc files
        rows: list[Measurement] = []
        for _ in range(args.repeat):
            deepbet = DEEPBET.format(source=str(args.volume), target=str(folder / "deepbet.nii.gz"), **weights)
            rows.append(measure("deepbet (reference)", deepbet))
            rows.append(run_deepinfer("deepinfer, TorchScript card", args.volume, folder / "ts.nii.gz"))
            if onnx_card is not None:
                rows.append(run_deepinfer("deepinfer, ONNX card", args.volume, folder / "onnx.nii.gz", onnx_card))
        dice = {name: mask_dice(folder / "deepbet.nii.gz", folder / name) for name in ("ts.nii.gz", "onnx.nii.gz")}
    print(f"volume: {args.volume}")
    print(table(rows, "deepbet (reference)"))
    print()
    print(median_table(rows, "deepbet (reference)"))
    print()
    print(breakdown(rows))
    print(json.dumps({"dice_vs_deepbet": {k: v for k, v in dice.items() if v is not None}}))


def breakdown(rows: list[Measurement]) -> str:
    """Median seconds per part of each run (parts over 0.05 s), largest first."""
    lines = ["| run | where the time goes (median s) |", "|---|---|"]
    for label in dict.fromkeys(row.label for row in rows):
        parts: dict[str, list[float]] = {}
        for row in rows:
            if row.label == label:
                for name, seconds in row.details.get("parts", {}).items():
                    parts.setdefault(name, []).append(seconds)
        medians = sorted(((median(v), k) for k, v in parts.items()), reverse=True)
        lines.append(f"| {label} | " + ", ".join(f"{k} {v:.2f}" for v, k in medians if v >= 0.05) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
