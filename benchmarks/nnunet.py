"""A card imported by ``deepinfer card import-nnunet`` vs nnU-Net's own ``nnUNetPredictor`` (CPU, TTA on), on the
same volume, in one run, each in a fresh process.

    .venv/bin/python benchmarks/nnunet.py [--results FOLDER --volume PATH] [--folds 0] [--repeat N]

Without ``--results`` it trains the parity test's tiny nnU-Net first (``tests/package/nnunet_training.py``:
Colin27 brain masks at 4 mm, one short epoch per fold) and uses its held-out volume. Prints a Markdown table (wall
time, the pipeline's own time, peak RSS, speed-up against nnU-Net's predictor) and the Dice of the two labelmaps.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _measure import Measurement, compile_bytecode, mask_dice, measure, repo_root, table

NNUNET = """
import json, time, warnings
warnings.filterwarnings("ignore")
start = time.perf_counter()
if __name__ == "__main__":
    import SimpleITK as sitk
    import torch
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    torch.set_num_threads(2)
    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=True,
                                device=torch.device("cpu"), allow_tqdm=False)
    predictor.initialize_from_trained_model_folder({results!r}, use_folds={folds!r})
    image, properties = SimpleITKIO().read_images([{source!r}])
    segmentation = predictor.predict_single_npy_array(image, properties, None, None, False)
    reference = sitk.ReadImage({source!r})
    written = sitk.GetImageFromArray(segmentation.astype("uint8"))
    written.CopyInformation(reference)
    sitk.WriteImage(written, {target!r})
    print(json.dumps({{"inner_s": time.perf_counter() - start}}))
"""

DEEPINFER = """
import json, time
start = time.perf_counter()
from pathlib import Path
from deepinfer.card import load_card
from deepinfer.run import plan_outputs, run_model
card = load_card(Path({card!r}))
plan = plan_outputs(card, Path({target!r}))
run_model(card, {{card.inputs[0].name: Path({source!r})}}, plan, {{"tta": True}}, card_dir=Path({card!r}).parent)
print(json.dumps({{"inner_s": time.perf_counter() - start}}))
"""


def run(*argv: str) -> None:
    done = subprocess.run([sys.executable, *argv], capture_output=True, encoding="utf-8")
    if done.returncode != 0:
        raise SystemExit(done.stdout[-2000:] + done.stderr[-3000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=None, help="an nnU-Net v2 results folder")
    parser.add_argument("--volume", type=Path, default=None, help="the volume both predict (with --results)")
    parser.add_argument("--folds", default="0")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    compile_bytecode()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results, source = args.results, args.volume
        if results is None or source is None:
            run(str(repo_root() / "tests" / "package" / "nnunet_training.py"), "train", str(folder), "0,1")
            (results,) = (folder / "results").glob("Dataset*/*__3d_fullres")
            source = folder / "held_out.nii.gz"
        card_dir = folder / "card"
        run("-m", "deepinfer", "card", "import-nnunet", str(results), "--folds", args.folds, "-o", str(card_dir))
        card = str(card_dir / "card.json")
        folds = tuple(int(f) for f in args.folds.split(","))
        theirs, ours = str(folder / "nnunet.nii.gz"), str(folder / "di.nii.gz")
        measure("warm-up", DEEPINFER.format(card=card, source=str(source), target=ours))
        rows: list[Measurement] = []
        for _ in range(args.repeat):
            code = NNUNET.format(results=str(results), folds=folds, source=str(source), target=theirs)
            rows.append(measure("nnUNetPredictor (reference)", code))
            rows.append(measure("deepinfer", DEEPINFER.format(card=card, source=str(source), target=ours)))
        dice = mask_dice(Path(theirs), Path(ours))
    print(f"volume: {args.volume or 'the parity test held-out Colin27 volume'}; folds {args.folds}; TTA on")
    print(table(rows, "nnUNetPredictor (reference)"))
    print(json.dumps({"dice_vs_nnunet": dice}))


if __name__ == "__main__":
    main()
