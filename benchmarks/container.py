"""The same card and volume in a container vs in-process: the ratio, and the fixed cost a container run adds.

    export DOCKER_HOST=$(scripts/engine)      # as root: local Docker engine + base image
    .venv/bin/python benchmarks/container.py [--volume PATH] [--repeat N] [--card CONTAINER_CARD]

Without ``--card`` the TAPS card is packaged first (``deepinfer package build prostate-taps --base-image
deepinfer-base:bookworm``). Each run is a fresh Python process calling ``run_model`` (the in-process run on the
original card, the container run on the packaged card), so both pay interpreter start, imports and writing the
outputs; the container run adds the engine's start and removal of the container, the interpreter and imports
inside it, and the NRRD hand-over through the job folder.

The fixed cost per container run is measured on a card whose network costs nothing (a one-multiplication ONNX
graph, ``card init`` + ``package build``) on a small real MR crop: container minus in-process. The engine's own
share is measured apart with ``--entrypoint true`` and with the image's Python importing deepinfer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import Measurement, compile_bytecode, measure, repo_root, table

sys.path.insert(0, str(repo_root() / "tests"))
from realparts import COLIN27, write_t2_like
from tiny_networks import tiny_onnx

RUN = """
import json, time
start = time.perf_counter()
from pathlib import Path
from deepinfer.run import plan_outputs, run_model
from deepinfer.card import load_card
from deepinfer.registry import default_registry
card_file = {card!r}
if card_file.endswith(".json"):
    card, card_dir = load_card(Path(card_file)), Path(card_file).parent
else:
    registry = default_registry()
    loaded = registry.find(card_file)
    card, card_dir = loaded.card, loaded.folder
plan = plan_outputs(card, Path({target!r}))
run_model(card, {{card.inputs[0].name: Path({source!r})}}, plan, card_dir=card_dir)
print(json.dumps({{"inner_s": time.perf_counter() - start}}))
"""


def package(card: str, output: Path) -> Path:
    command = [sys.executable, "-m", "deepinfer", "package", "build", card]
    command += ["--base-image", "deepinfer-base:bookworm", "-o", str(output)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return output


def tiny_card(folder: Path) -> Path:
    """``card init`` on a one-multiplication ONNX graph: a card whose network costs nothing."""
    model = tiny_onnx(folder / "tiny-net.onnx")
    card = folder / "tiny.json"
    subprocess.run([sys.executable, "-m", "deepinfer", "card", "init", str(model), "-o", str(card)], check=True)
    return card


def small_crop(folder: Path) -> Path:
    import SimpleITK as sitk

    path = folder / "crop.nii.gz"
    sitk.WriteImage(sitk.ReadImage(str(COLIN27))[50:130, 70:150, 60:124], str(path))
    return path


def pairs(card: str, packaged: Path, source: Path, folder: Path, repeat: int) -> list[Measurement]:
    """In-process and container runs of the same card on the same volume, interleaved."""

    def run(label: str, card_file: str) -> Measurement:
        code = RUN.format(card=card_file, source=str(source), target=str(folder / f"{label}.nii.gz"))
        # The image runs its networks with onnxruntime (package build's default); so does the in-process run.
        return measure(label, code, env={**os.environ, "DEEPINFER_RUNTIME": "onnxruntime"})

    run("in-process", card)  # warm the artifact cache and the page cache
    rows: list[Measurement] = []
    for _ in range(repeat):
        rows.append(run("in-process", card))
        rows.append(run("container", str(packaged)))
    return rows


def medians(rows: list[Measurement]) -> dict[str, float]:
    return {
        label: statistics.median(r.wall_s for r in rows if r.label == label) for label in ("in-process", "container")
    }


def engine_seconds(image: str, command: list[str], repeat: int) -> float:
    """Median wall time of ``docker run --rm --network none --entrypoint ...`` (the engine's and Python's share)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            ["docker", "run", "--rm", "--network", "none", "--entrypoint", command[0], image, *command[1:]],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volume", type=Path, default=None, help="default: the T2-like Colin27 probe")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--card", type=Path, default=None, help="a card made by deepinfer package build")
    args = parser.parse_args()
    compile_bytecode()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = args.volume or write_t2_like(COLIN27, folder / "t2_like.nii.gz")
        card = args.card or package("prostate-taps", folder / "prostate-taps.container.json")
        image = json.loads(card.read_text())["runtime"]["image"]
        taps = pairs("prostate-taps", card, source, folder, args.repeat)
        tiny = tiny_card(folder)
        tiny_rows = pairs(str(tiny), package(str(tiny), folder / "tiny.container.json"), small_crop(folder), folder, 5)
        engine = engine_seconds(image, ["true"], 5)
        imports = engine_seconds(image, ["python3", "-c", "import deepinfer.run, deepinfer.container._entrypoint"], 5)
    wall, fixed = medians(taps), medians(tiny_rows)
    print(f"prostate-taps on {args.volume or 'the T2-like Colin27 probe (tests/realparts.py)'}; image {image[:19]}")
    print(table(taps, "in-process"))
    print("\nthe tiny card (no compute) on an 80×80×64 Colin27 crop")
    print(table(tiny_rows, "in-process"))
    summary = {
        "taps_median_wall_in_process_s": round(wall["in-process"], 2),
        "taps_median_wall_container_s": round(wall["container"], 2),
        "taps_ratio_container_over_in_process": round(wall["container"] / wall["in-process"], 3),
        "tiny_median_wall_in_process_s": round(fixed["in-process"], 2),
        "tiny_median_wall_container_s": round(fixed["container"], 2),
        "fixed_cost_per_container_run_s": round(fixed["container"] - fixed["in-process"], 2),
        "engine_start_and_remove_s": round(engine, 2),
        "engine_plus_python_imports_in_image_s": round(imports, 2),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
