"""The sliding window's band-by-band blending: the same result as summing weights over the whole image (to the
bit), more windows per call when the network asks for them, and a CT-sized volume within a memory bound."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pipeline_helpers import run_steps_on

from deepinfer.imaging import Geometry, Volume
from deepinfer.pipeline._inference import importance_map, windows
from realparts import need

MAX_PEAK_RSS_GB = 4.0
CT_SHAPE = (512, 512, 800)
TAPS_WINDOW = (128, 128, 32)


def whole_image_blend(data: np.ndarray, roi: tuple[int, int, int], overlap: float, network: Any) -> np.ndarray:
    """The straightforward version: one full-size weight sum, windows one at a time."""
    weights = importance_map(roi, "gaussian", 0.125)
    positions = windows(data.shape[1:], roi, overlap)
    count = np.zeros(data.shape[1:], np.float32)
    total = np.zeros(data.shape, np.float32)
    for window in positions:
        count[window] += weights
        total[(slice(None), *window)] += network(data[(slice(None), *window)][None])[0] * weights
    return total / count


def plain_grid(size: tuple[int, int, int]) -> Geometry:
    return Geometry((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0), size)


class Recording:
    """A real (if simple) network, ``tanh(x) + x²/10``, that records its batch sizes; asks for 3 at a time."""

    preferred_batch = 3

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.sizes.append(len(batch))
        return np.asarray(np.tanh(batch) + batch**2 / 10, dtype=np.float32)


def test_band_by_band_blending_equals_the_whole_image_sum_bit_for_bit(small_mr: Volume) -> None:
    network = Recording()
    params = {"roi": [24, 20, 16], "overlap": 0.5, "batch_size": 2}
    result = run_steps_on(small_mr, [("sliding_window", params)], networks=lambda name: network).image.data
    data = np.asarray(small_mr.array, np.float32)[None]
    expected = whole_image_blend(data, (24, 20, 16), 0.5, Recording())
    np.testing.assert_array_equal(result, expected)
    total = len(windows(small_mr.array.shape, (24, 20, 16), 0.5))
    assert sum(network.sizes) == total and max(network.sizes) == 3  # the network's preferred batch wins over 2


def test_a_volume_smaller_than_the_window_is_padded_and_cropped_back() -> None:
    volume = Volume(np.random.default_rng(1).normal(size=(10, 12, 6)).astype(np.float32), plain_grid((10, 12, 6)))
    image = run_steps_on(volume, [("sliding_window", {"roi": [16, 16, 8]})], networks=lambda name: Recording()).image
    assert image.data.shape == (1, 10, 12, 6)


MEMORY_PROBE = """
import json, resource, sys, time
from pathlib import Path
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from deepinfer.imaging import Geometry, Volume
from deepinfer.pipeline import Pipeline, build_steps
from deepinfer.runners import NetworkCache

def conv_net(path):
    weight = numpy_helper.from_array(np.full((1, 1, 3, 3, 3), 1 / 27, np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1] * 6)
    shape = ["N", 1, "D", "H", "W"]
    graph = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)

conv_net(sys.argv[1])
shape = tuple(json.loads(sys.argv[2]))
ramp = np.arange(shape[2], dtype=np.int16) % 2000 - 1000  # an int16 CT-like volume, as a reader gives it
grid = Geometry((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0), shape)
volume = Volume(np.ascontiguousarray(np.broadcast_to(ramp, shape)), grid)
steps = build_steps([("sliding_window", {"roi": json.loads(sys.argv[3]), "overlap": 0.5}),
                     ("output", {"name": "P"})], {})
start = time.perf_counter()
outputs = Pipeline(steps).run(volume, NetworkCache("onnx", lambda name: Path(sys.argv[1]), 2))
result = outputs["P"].array
peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
# a mean over 3x3x3 (zero-padded at window edges), blended with positive weights: within [min(ramp, 0), 0]
ok = result.shape == shape and bool(result.min() >= ramp.min() - 1e-3) and bool(result.max() <= 1e-3)
print(json.dumps({"seconds": time.perf_counter() - start, "peak_gb": peak_gb, "ok": ok}))
"""


@pytest.mark.slow
def test_a_ct_sized_volume_through_a_taps_sized_window_stays_under_4_gb(tmp_path: Path) -> None:
    need("onnx")
    command = [sys.executable, "-c", textwrap.dedent(MEMORY_PROBE), str(tmp_path / "conv.onnx"),
               json.dumps(CT_SHAPE), json.dumps(TAPS_WINDOW)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, encoding="utf-8", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\n512×512×800 through 128×128×32 windows: peak RSS {report['peak_gb']:.2f} GB, {report['seconds']:.0f} s")
    assert report["ok"]
    assert report["peak_gb"] < MAX_PEAK_RSS_GB
