"""Start-up of ``deepinfer models list``: this checkout against a reference revision of the project, in the same
run, on the same machine, interleaved (old, new, old, new, ...) so that a busy moment falls on both alike.

The reference revision is checked out into a temporary git worktree and imported first through PYTHONPATH, so
both run on the same interpreter and the same installed packages; only deepinfer's own code differs. Both byte-
compile first (as ``pip install`` does). Wall and CPU (user + system) time per run, from a fresh process each.
Both share one ``DEEPINFER_HOME``, warmed by a first run of each (so card summaries kept there are used); a third
row runs this checkout with an empty home every time (its first listing, which validates every card).

    .venv/bin/python benchmarks/startup.py --reference 1109017 --repeat 15
"""

from __future__ import annotations

import argparse
import compileall
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ["-m", "deepinfer", "models", "list"]
COLD = "this checkout, empty home"


def run_once(env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one ``deepinfer models list`` in a fresh interpreter."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, *COMMAND], stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"deepinfer models list failed ({env.get('PYTHONPATH', 'this checkout')})")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", default="1109017", help="git revision to compare with")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deepinfer-startup-") as work:
        tree = Path(work) / "reference"
        git = ["git", "-C", str(ROOT), "worktree"]
        subprocess.run([*git, "add", "--detach", "-q", str(tree), args.reference], check=True)
        try:
            for source in (ROOT / "src", tree / "src"):
                compileall.compile_dir(str(source / "deepinfer"), quiet=1)
            home = Path(work) / "home"  # no configured registries: the embedded one only, for both
            base = {**os.environ, "DEEPINFER_HOME": str(home)}
            variants = {"reference": {**base, "PYTHONPATH": str(tree / "src")}, "this checkout": base}
            for env in variants.values():
                run_once(env)  # warm the file cache
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in [*variants, COLD]}
            for repeat in range(args.repeat):
                for name, env in variants.items():
                    runs[name].append(run_once(env))
                runs[COLD].append(run_once({**base, "DEEPINFER_HOME": str(Path(work) / f"empty-{repeat}")}))
        finally:
            subprocess.run([*git, "remove", "--force", str(tree)], check=False)
    load = os.getloadavg()
    print(f"`deepinfer models list`, {args.repeat} interleaved runs each; load average {load[0]:.2f}")
    print("| run | wall median s | wall min s | CPU median s | speed-up vs reference (median wall) |")
    print("|---|---:|---:|---:|---:|")
    reference = median(w for w, _ in runs["reference"])
    for name, values in runs.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        print(
            f"| {name} ({args.reference if name == 'reference' else 'HEAD'}) | {median(walls):.3f} | {min(walls):.3f} "
            f"| {median(cpus):.3f} | {reference / median(walls):.2f}× |"
        )


if __name__ == "__main__":
    main()
