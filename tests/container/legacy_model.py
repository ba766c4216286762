"""A model image in the 2017 DeepInfer style, for the container tests (copied into an image on the base image).

Like the 2017 ``deepinfer/example`` threshold image, it takes ``--ModelName M --InputVolume PATH --OutputLabel PATH``
plus parameters as ``--Name value`` (booleans as bare flags). It prints its argv, uid and gid as one JSON line,
one progress line, and then, by model name: ``threshold`` writes voxels above the mean (or ``--Threshold``) as a
uint8 NRRD with the input's header; ``fail`` prints an error and exits 3; ``sleep`` sleeps ten minutes;
``planescores`` writes class scores per frame (background, target: the target score is the frame's mean over the
largest frame mean) as JSON to ``--TargetPlane``, ``planescores-csv`` the same as CSV beside it, and
``planescores-nan`` a JSON whose first target score is NaN.
It needs only Python and numpy (raw NRRD, as deepinfer writes the inputs).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

TYPES = {
    "unsigned char": "u1",
    "uchar": "u1",
    "uint8": "u1",
    "signed char": "i1",
    "int8": "i1",
    "short": "i2",
    "int16": "i2",
    "unsigned short": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "unsigned int": "u4",
    "uint32": "u4",
    "float": "f4",
    "double": "f8",
}


BOOLEANS = {"Verbose"}


def options(argv: list[str]) -> dict[str, str | bool]:
    found: dict[str, str | bool] = {}
    position = 0
    while position < len(argv):
        key = argv[position][2:]
        if key in BOOLEANS:
            found[key], position = True, position + 1
        else:
            found[key], position = argv[position + 1], position + 2
    return found


def read_nrrd(path: str) -> tuple[list[str], np.ndarray]:
    with open(path, "rb") as handle:
        raw = handle.read()
    head, data = raw.split(b"\n\n", 1)
    fields: dict[str, str] = {}
    for line in head.decode().splitlines()[1:]:
        if ": " in line and ":=" not in line:
            key, value = line.split(": ", 1)
            fields[key] = value
    assert fields.get("encoding") == "raw", fields
    order = "<" if fields.get("endian", "little") == "little" else ">"
    array = np.frombuffer(data, dtype=order + TYPES[fields["type"]])
    return head.decode().splitlines(), array


def write_label(path: str, header: list[str], mask: np.ndarray) -> None:
    lines = [line if not line.startswith("type: ") else "type: unsigned char" for line in header]
    with open(path, "wb") as handle:
        handle.write(("\n".join(lines) + "\n\n").encode())
        handle.write(mask.astype(np.uint8).tobytes())


def write_scores(path: str, model: str, header: list[str], values: np.ndarray) -> None:
    sizes = [int(n) for line in header if line.startswith("sizes: ") for n in line[7:].split()]
    frames = values.reshape(sizes[::-1]).astype(np.float64)  # NRRD stores i fastest: frames along the first axis
    means = frames.reshape(sizes[2], -1).mean(axis=1)
    target = means / max(float(np.abs(means).max()), 1e-9)
    rows = [[round(1 - t, 6), round(t, 6)] for t in target]
    if model == "planescores-nan":
        rows[0][1] = float("nan")
    if model == "planescores-csv":
        lines = ["index,background,target"] + [f"{k},{a},{b}" for k, (a, b) in enumerate(rows)]
        with open(path[: -len(".json")] + ".csv", "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        return
    planes = [{"index": k, "scores": row} for k, row in enumerate(rows)]
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"classes": ["background", "target"], "plane": "frames", "planes": planes}, handle)


def main() -> int:
    argv = sys.argv[1:]
    print(json.dumps({"argv": argv, "uid": os.getuid(), "gid": os.getgid()}), flush=True)
    found = options(argv)
    model = found.get("ModelName")
    print(json.dumps({"event": "progress", "task": "legacy model", "done": 1, "total": 2}), flush=True)
    if model == "fail":
        print("model crashed: out of cheese", file=sys.stderr, flush=True)
        return 3
    if model == "sleep":
        time.sleep(600)
        return 0
    header, values = read_nrrd(str(found["InputVolume"]))
    if str(model).startswith("planescores"):
        write_scores(str(found["TargetPlane"]), str(model), header, values)
        return 0
    threshold = float(found["Threshold"]) if "Threshold" in found else float(values.mean())
    write_label(str(found["OutputLabel"]), header, values > threshold)
    print("wrote", found["OutputLabel"], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
