"""MONAI transforms and inferers → deepinfer pipeline steps, one small mapping function per transform.

Each function reads its transform's options through :class:`Transform` (which reports what it cannot map) and
appends the equivalent steps to a :class:`PipelineDraft`. Only what a deepinfer step does *exactly* as MONAI does
is mapped; anything else (an option value, a transform, an expression) is a problem in the one refusal.

Several inputs (multi-modal MRI): ``LoadImaged`` loads several keys, every transform up to ``ConcatItemsd`` works
on all of them alike, and ``ConcatItemsd`` stacks them, in its order, into the key the network reads. Each
loaded key becomes a card input; the card stacks them first (``stack_inputs``, the inputs on one grid), which is
the same as transforming them one by one only for the steps that treat channels apart: reorientation,
resampling, voxel-wise scaling, per-key min-max and z-score (after the stacking, only with ``channel_wise``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from deepinfer.package._monai_config import REFUSED, Transform

MAX_ROI: Final = 1024  # voxels per axis of a sliding window
MAX_WINDOW_VOXELS: Final = 256**3
MAX_SPACING_MM: Final = 100.0
MAX_MARGIN: Final = 1024
MAX_BATCH: Final = 256
MAX_INPUTS: Final = 16  # as the stack_inputs step
READERS: Final = {None: None, "NibabelReader": None, "ITKReader": None, "NrrdReader": None}
FLOAT32: Final = {None: None, "float32": None, "torch.float32": None, "numpy.float32": None}
INTERPOLATION: Final = {"bilinear": "linear", "nearest": "nearest"}
OUTSIDE: Final = {"border": ("nearest", 0.0), "zeros": ("constant", 0.0)}
BLEND: Final = {"constant": "constant", "gaussian": "gaussian"}
CONNECTIVITY: Final = {None: 26, 1: 6, 2: 18, 3: 26}


@dataclass
class PipelineDraft:
    """The steps so far and what the rest of the mapping needs to know about them."""

    image_key: str
    pred_key: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    resamplings: list[dict[str, Any]] = field(default_factory=list)  # params of resample steps (Invertd sets inverse)
    grid_changed: bool = False
    grid_changed_apart: bool = False  # by a transform of the several loaded keys, before ConcatItemsd
    grid_changed_stacked: bool = False  # by a transform of the image key (after ConcatItemsd, or one input)
    inverted: bool = False
    activation: str | None = None
    discrete: str | None = None  # "argmax" or "threshold" once the prediction is labels
    notes: list[str] = field(default_factory=list)
    input_keys: list[str] = field(default_factory=list)  # what LoadImaged loads (several: one card input each)
    channel_order: list[str] = field(default_factory=list)  # ConcatItemsd's keys, once it stacked them

    def add(self, step: str, **params: Any) -> dict[str, Any]:
        self.steps.append({"step": step, "params": params})
        return params

    @property
    def separate(self) -> bool:
        """Several loaded keys, not stacked yet: a transform must name them all and work on each alike."""
        return len(self.input_keys) > 1 and not self.channel_order

    @property
    def channels(self) -> int:
        return max(len(self.input_keys), 1)

    def change_grid(self) -> None:
        self.grid_changed = True
        if self.separate:
            self.grid_changed_apart = True
        else:
            self.grid_changed_stacked = True

    def keys_for(self, key: str) -> str | list[str]:
        return list(self.input_keys) if key == self.image_key and self.separate else key


Mapper = Callable[[Transform, PipelineDraft], None]


SELF_KEYED: Final = ("LoadImaged", "ConcatItemsd")  # they read their keys themselves


def check_keys(transform: Transform, wanted: str | list[str]) -> None:
    """``keys`` must name ``wanted``: one key, or every loaded input key (in any order) before ConcatItemsd."""
    keys = transform.value("keys", REFUSED)
    if keys is REFUSED:
        if "keys" not in transform.options:
            transform.problem(None, "the transform names no 'keys'")
        return
    if isinstance(wanted, str):
        if keys not in (wanted, [wanted]):
            transform.problem("keys", f"only the key {wanted!r} is supported here, got {keys!r}")
    elif not isinstance(keys, list) or sorted(map(str, keys)) != sorted(wanted) or len(set(keys)) != len(keys):
        transform.problem(
            "keys", f"before ConcatItemsd a transform must work on every loaded key alike ({wanted!r}), got {keys!r}"
        )


def plain_keys(t: Transform, key: str, value: Any) -> list[str] | None:
    """One key or a list of distinct plain keys (letters, digits, '_'), at most MAX_INPUTS."""
    keys = [value] if isinstance(value, str) else value
    if (
        not isinstance(keys, list)
        or not 1 <= len(keys) <= MAX_INPUTS
        or not all(isinstance(k, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", k) for k in keys)
        or len(set(keys)) != len(keys)
    ):
        t.problem(key, f"{key} must be 1 to {MAX_INPUTS} distinct plain keys (letters, digits, '_'), got {keys!r}")
        return None
    return list(keys)


def one_channel_only(t: Transform, draft: PipelineDraft, why: str) -> None:
    if len(draft.input_keys) > 1:
        t.problem(None, f"not supported for several inputs ({', '.join(draft.input_keys)}): {why}")


def channel_wise(t: Transform, draft: PipelineDraft) -> None:
    """After ConcatItemsd, statistics per channel (as deepinfer's steps compute them) need ``channel_wise``."""
    wise = t.boolean("channel_wise", False)
    if draft.channel_order and len(draft.channel_order) > 1 and wise is False:
        t.problem(
            "channel_wise",
            "on the stacked channels MONAI would pool the statistics of every channel; deepinfer computes them "
            "per channel (channel_wise true, or the transform before ConcatItemsd)",
        )


def optional_number(t: Transform, key: str) -> float | None:
    """An option whose absence (or null) means "not used"."""
    t.used.add(key)
    return None if t.options.get(key) is None else t.number(key, None, -1e9, 1e9)


# ----------------------------------------------------------------------------------------- preprocessing


def load_image(t: Transform, draft: PipelineDraft) -> None:
    """deepinfer reads the inputs itself (SimpleITK, with their geometry); several keys become several inputs."""
    value = t.value("keys", REFUSED)
    keys = None if value is REFUSED else plain_keys(t, "keys", value)
    if keys is not None and len(keys) == 1 and keys[0] != draft.image_key:
        t.problem("keys", f"only the key {draft.image_key!r} is supported here, got {value!r}")
    if keys is not None:
        draft.input_keys = keys
    t.choice("reader", None, READERS)
    t.choice("dtype", "float32", FLOAT32)
    t.ignore("image_only", "ensure_channel_first", "meta_keys", "meta_key_postfix", "overwriting", "simple_keys")
    t.ignore("prune_meta_pattern", "prune_meta_sep", "allow_missing_keys", "expanduser")


def concat_items(t: Transform, draft: PipelineDraft) -> None:
    """The loaded keys stacked as channels, in this order, into the key the network reads."""
    value = t.value("keys", REFUSED)
    keys = None if value is REFUSED else plain_keys(t, "keys", value)
    name = t.value("name", REFUSED)
    t.fixed("dim", 0)
    t.ignore("allow_missing_keys")
    if name is not REFUSED and name != draft.image_key:
        t.problem("name", f"the stacked channels must go into {draft.image_key!r} (the network's input), got {name!r}")
    if draft.channel_order:
        t.problem(None, "a second ConcatItemsd is not supported")
    elif keys is not None and (sorted(keys) != sorted(draft.input_keys) or len(keys) < 2):
        loaded = ", ".join(draft.input_keys)
        t.problem("keys", f"must stack every key LoadImaged loads ({loaded}), each once, got {value!r}")
    elif keys is not None and not t.failed:
        draft.channel_order = keys
        draft.notes.append(
            f"The card's inputs {', '.join(keys)} are the bundle's keys, stacked as channels in ConcatItemsd's order; "
            "they must lie on one grid (deepinfer refuses inputs on different grids rather than resample one)."
        )


def channel_first(t: Transform, draft: PipelineDraft) -> None:
    t.fixed("channel_dim", None)
    t.ignore("strict_check", "allow_missing_keys")


def ensure_type(t: Transform, draft: PipelineDraft) -> None:
    t.fixed("data_type", "tensor", "numpy")
    t.choice("dtype", None, FLOAT32)
    t.ignore("device", "wrap_sequence", "track_meta", "allow_missing_keys")


def axis_codes(value: Any) -> bool:
    """Three letters, one of L/R, A/P and S/I each (MONAI's and nibabel's axis codes)."""
    if not isinstance(value, str) or len(value) != 3:
        return False
    pairs = ("LR", "AP", "SI")
    return sorted(i for letter in value.upper() for i, pair in enumerate(pairs) if letter in pair) == [0, 1, 2]


def orientation(t: Transform, draft: PipelineDraft) -> None:
    draft.change_grid()  # in MONAI, whether or not the card can follow
    canonical = t.boolean("as_closest_canonical", False)
    if canonical:  # the closest canonical orientation of nibabel is RAS
        t.fixed("axcodes", None, "RAS")
        codes: str | None = "RAS"
    else:
        codes = t.checked("axcodes", None, axis_codes, "3 axis letters such as 'RAS'")
    t.fixed("labels", None)
    t.fixed("lazy", False)
    t.ignore("allow_missing_keys")
    if codes is not None and not t.failed:
        draft.add("reorient", orientation=codes.upper())


def spacing(t: Transform, draft: PipelineDraft) -> None:
    draft.change_grid()
    pixdim = t.triple("pixdim", None, 1e-3, MAX_SPACING_MM)
    interpolation = t.choice("mode", "bilinear", INTERPOLATION)
    outside = t.choice("padding_mode", "border", OUTSIDE)
    for key in ("diagonal", "scale_extent", "recompute_affine", "lazy", "align_corners"):
        t.fixed(key, False)
    t.fixed("min_pixdim", None)
    t.fixed("max_pixdim", None)
    t.ignore("dtype", "ensure_same_shape", "allow_missing_keys")  # float64 or float32 arithmetic: same grid
    if t.failed or pixdim is None:
        return
    params = draft.add(
        "resample", spacing=pixdim, interpolation=interpolation, extent="centers", outside=outside[0], fill=outside[1]
    )
    draft.resamplings.append(params)


def scale_range(t: Transform, draft: PipelineDraft) -> None:
    low = t.number("a_min", None, -1e9, 1e9)
    high = t.number("a_max", None, -1e9, 1e9)
    minimum = optional_number(t, "b_min")
    maximum = optional_number(t, "b_max")
    clip = t.boolean("clip", False)
    t.choice("dtype", "float32", FLOAT32)
    t.ignore("allow_missing_keys")
    if (minimum is None) != (maximum is None) or (clip and minimum is None):
        t.problem(None, "give both b_min and b_max (deepinfer maps the range onto [b_min, b_max])")
    if low is not None and high is not None and high <= low:
        t.problem("a_max", "a_max must be greater than a_min")
    if minimum is not None and maximum is not None and maximum < minimum:
        t.problem("b_max", "b_max must not be less than b_min")
    if not t.failed and low is not None and high is not None:
        draft.add(
            "scale_intensity_range",
            low=low,
            high=high,
            minimum=0.0 if minimum is None else minimum,
            maximum=1.0 if maximum is None else maximum,
            clip=bool(clip),
        )


def scale_minmax(t: Transform, draft: PipelineDraft) -> None:
    minimum = t.number("minv", 0.0, -1e9, 1e9)
    maximum = t.number("maxv", 1.0, -1e9, 1e9)
    t.fixed("factor", None)
    t.choice("dtype", "float32", FLOAT32)
    channel_wise(t, draft)
    t.ignore("allow_missing_keys")
    if not t.failed and minimum is not None and maximum is not None:
        draft.add("normalize_minmax", minimum=minimum, maximum=maximum)


def normalize(t: Transform, draft: PipelineDraft) -> None:
    t.fixed("subtrahend", None)
    t.fixed("divisor", None)
    nonzero = t.boolean("nonzero", False)
    t.choice("dtype", "float32", FLOAT32)
    channel_wise(t, draft)
    t.ignore("allow_missing_keys")
    if not t.failed:
        draft.add("normalize_zscore", nonzero=bool(nonzero), ddof=0)  # MONAI's std is the population std


def crop_foreground(t: Transform, draft: PipelineDraft) -> None:
    draft.change_grid()
    source = t.value("source_key", None)
    if draft.separate:
        why = "MONAI crops every key by the foreground of one; put CropForegroundd after ConcatItemsd"
        t.problem("source_key", f"before ConcatItemsd: {why} (the foreground of every channel)")
    elif source is not REFUSED and source != draft.image_key:
        t.problem("source_key", f"the foreground must come from the image {draft.image_key!r}, got {source!r}")
    t.fixed("select_fn", None)  # MONAI's default, is_positive: any value > 0
    t.fixed("channel_indices", None)
    margin = t.triple("margin", 0, 0, MAX_MARGIN, integer=True)
    smaller = t.boolean("allow_smaller", False)
    t.fixed("k_divisible", 1)
    t.fixed("mode", "constant")
    t.fixed("lazy", False)
    t.ignore("start_coord_key", "end_coord_key", "allow_missing_keys")
    if not t.failed and margin is not None:
        draft.add("crop_foreground", threshold=0.0, margin=margin, clip_to_image=bool(smaller), fill=0.0)


def scale_percentiles(t: Transform, draft: PipelineDraft) -> None:
    lower = t.number("lower", None, 0.0, 100.0)
    upper = t.number("upper", None, 0.0, 100.0)
    minimum, maximum = optional_number(t, "b_min"), optional_number(t, "b_max")
    clip = t.boolean("clip", False)
    t.fixed("relative", False)
    t.choice("dtype", "float32", FLOAT32)
    t.ignore("channel_wise", "allow_missing_keys")  # one input channel: the same either way
    one_channel_only(t, draft, "deepinfer's percentiles come from one channel")
    if minimum is None or maximum is None or maximum < minimum:
        t.problem(None, "give b_min and b_max (b_max ≥ b_min): deepinfer maps the percentiles onto [b_min, b_max]")
    if lower is not None and upper is not None and upper < lower:
        t.problem("upper", "upper must not be below lower")
    if not t.failed and lower is not None and upper is not None:
        slot = f"percentiles{len(draft.steps)}"
        draft.add("percentiles", store_as=slot, lower=lower, upper=upper, nonzero=False)
        draft.add("scale_to_range", values=slot, minimum=minimum, maximum=maximum, clip=bool(clip))


def pad_params(t: Transform) -> bool:
    t.fixed("method", "symmetric")
    t.fixed("mode", "constant")
    t.fixed("value", 0, 0.0)
    t.fixed("lazy", False)
    t.ignore("allow_missing_keys")
    return not t.failed


def spatial_pad(t: Transform, draft: PipelineDraft) -> None:
    draft.change_grid()
    size = t.triple("spatial_size", None, 1, MAX_ROI, integer=True)
    if pad_params(t) and size is not None:
        draft.add("pad", minimum=size, multiple=1, mode="constant", value=0.0)


def divisible_pad(t: Transform, draft: PipelineDraft) -> None:
    draft.change_grid()
    multiple = t.triple("k", None, 1, MAX_ROI, integer=True)
    if pad_params(t) and multiple is not None:
        draft.add("pad", minimum=1, multiple=multiple, mode="constant", value=0.0)


# --------------------------------------------------------------------------------------------- inferers


def sliding_window(t: Transform, draft: PipelineDraft) -> None:
    roi = t.triple("roi_size", None, 1, MAX_ROI, integer=True)
    if roi is not None and int(np.prod(roi)) > MAX_WINDOW_VOXELS:
        t.problem("roi_size", f"a window of {roi} voxels is larger than deepinfer allows ({MAX_WINDOW_VOXELS})")
    batch = t.checked("sw_batch_size", 1, lambda v: type(v) is int and 1 <= v <= MAX_BATCH, f"1..{MAX_BATCH}")
    overlap = t.triple("overlap", 0.25, 0.0, 0.99)
    if overlap is not None and len(set(overlap)) != 1:
        t.problem("overlap", "one overlap for every axis is supported, not one per axis")
    blend = t.choice("mode", "constant", BLEND)
    sigma = t.number("sigma_scale", 0.125, 1e-3, 10.0)
    t.fixed("padding_mode", "constant")
    cval = t.number("cval", 0.0, -1e9, 1e9)
    t.fixed("with_coord", False)
    t.ignore("sw_device", "device", "progress", "cache_roi_weight_map", "cpu_thresh", "buffer_steps", "buffer_dim")
    if t.failed or roi is None or overlap is None:
        return
    params = {"network": "model", "roi": roi, "overlap": overlap[0], "blend": blend, "sigma_scale": sigma}
    draft.add("sliding_window", **params, batch_size=batch, pad_value=cval)


def simple_inferer(t: Transform, draft: PipelineDraft) -> None:
    draft.add("infer", network="model")


# --------------------------------------------------------------------------------------- postprocessing


def activation(t: Transform, draft: PipelineDraft) -> None:
    softmax = t.boolean("softmax", False)
    sigmoid = t.boolean("sigmoid", False)
    t.fixed("other", None)
    t.ignore("allow_missing_keys")
    if softmax and sigmoid:
        t.problem(None, "softmax and sigmoid together are not supported")
    elif not t.failed and (softmax or sigmoid):
        draft.activation = "softmax" if softmax else "sigmoid"
        draft.add("activation", function=draft.activation)


def as_discrete(t: Transform, draft: PipelineDraft) -> None:
    argmax = t.boolean("argmax", False)
    threshold = optional_number(t, "threshold")
    t.fixed("to_onehot", None)
    t.fixed("rounding", None)
    t.fixed("dim", 0)
    t.fixed("keepdim", True)
    t.ignore("allow_missing_keys")
    if argmax and threshold is not None:
        t.problem(None, "argmax and threshold together are not supported")
    if t.failed:
        return
    if argmax:
        draft.add("argmax")
        draft.discrete = "argmax"
    elif threshold is not None:
        # MONAI keeps x >= t; the step keeps x > value. For float32 voxels, x >= t is x > the float32 before t.
        before = float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))
        draft.add("threshold", value=before)
        draft.discrete = "threshold"
        draft.notes.append(f"AsDiscreted threshold {threshold:g} (x ≥ t) is the threshold step's x > {before!r}.")


def largest_component(t: Transform, draft: PipelineDraft) -> None:
    labels = t.value("applied_labels", None)
    if labels is not None and labels is not REFUSED:
        labels = [labels] if isinstance(labels, int) else labels
        if not (isinstance(labels, list) and all(isinstance(v, int) and 0 < v <= 65535 for v in labels)):
            t.problem("applied_labels", f"applied_labels must be label values 1..65535, got {labels!r}")
    t.fixed("is_onehot", None, False)
    independent = t.boolean("independent", True)
    connectivity = t.choice("connectivity", None, CONNECTIVITY)
    t.fixed("num_components", 1)
    t.ignore("allow_missing_keys")
    if draft.discrete is None:
        t.problem(None, "deepinfer maps it only after AsDiscreted (on labels, not on one-hot channels)")
    if not t.failed:
        draft.add("largest_component", connectivity=connectivity, labels=labels, independent=bool(independent))


def invert(t: Transform, draft: PipelineDraft) -> None:
    if t.options.get("transform") != "@preprocessing":
        t.problem("transform", "only the inverse of the whole '@preprocessing' is supported")
    t.used.add("transform")
    originals = t.value("orig_keys", draft.image_key)
    allowed = [draft.image_key, *draft.input_keys]  # several inputs: they went through the same transforms
    if originals is not REFUSED and not any(originals in (key, [key]) for key in allowed):
        t.problem("orig_keys", f"the inverse must follow the image {draft.image_key!r}, got {originals!r}")
    if originals is not REFUSED and len(draft.input_keys) > 1:
        stacked = originals in (draft.image_key, [draft.image_key])
        if stacked and draft.grid_changed_apart:
            t.problem(
                "orig_keys",
                f"MONAI's inverse of {draft.image_key!r} undoes only the transforms after ConcatItemsd: the grid "
                "changes of the loaded keys before it would stay (name one of them in orig_keys instead)",
            )
        elif not stacked and draft.grid_changed_stacked:
            t.problem(
                "orig_keys",
                f"MONAI's inverse of {originals!r} undoes only that key's transforms, before ConcatItemsd: the grid "
                f"changes of {draft.image_key!r} after it would stay (name {draft.image_key!r} in orig_keys instead)",
            )
    nearest = t.boolean("nearest_interp", True)
    t.fixed("post_func", None)
    t.ignore("meta_keys", "orig_meta_keys", "meta_key_postfix", "to_tensor", "device", "allow_missing_keys")
    if t.failed or nearest is None:
        return
    for params in draft.resamplings:
        params["inverse"] = "nearest" if nearest else params["interpolation"]
    if draft.discrete is not None and not nearest and draft.resamplings:
        draft.notes.append(
            "Invertd interpolates the labels linearly (nearest_interp false) as the bundle does; MONAI saves those "
            "in-between values as floats, the card's labelmap rounds them to the nearest integer."
        )
    draft.add("restore_geometry")
    draft.inverted = True


def save_image(t: Transform, draft: PipelineDraft) -> None:
    """deepinfer writes the outputs itself, on the input's grid (``deepinfer run -o``): no option matters."""
    t.ignore(*t.options)


PREPROCESSING: Final[dict[str, Mapper]] = {
    "LoadImaged": load_image,
    "EnsureChannelFirstd": channel_first,
    "ConcatItemsd": concat_items,
    "EnsureTyped": ensure_type,
    "ToTensord": ensure_type,
    "Orientationd": orientation,
    "Spacingd": spacing,
    "ScaleIntensityRanged": scale_range,
    "ScaleIntensityd": scale_minmax,
    "NormalizeIntensityd": normalize,
    "CropForegroundd": crop_foreground,
    "ScaleIntensityRangePercentilesd": scale_percentiles,
    "SpatialPadd": spatial_pad,
    "DivisiblePadd": divisible_pad,
}
INFERERS: Final[dict[str, Mapper]] = {"SlidingWindowInferer": sliding_window, "SimpleInferer": simple_inferer}
POSTPROCESSING: Final[dict[str, Mapper]] = {
    "Activationsd": activation,
    "AsDiscreted": as_discrete,
    "KeepLargestConnectedComponentd": largest_component,
    "Invertd": invert,
    "SaveImaged": save_image,
    "EnsureTyped": ensure_type,
    "ToTensord": ensure_type,
}
