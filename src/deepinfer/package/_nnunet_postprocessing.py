"""nnU-Net's postprocessing, read from its ``postprocessing.json`` (never ``postprocessing.pkl``, which holds
pickled functions): the largest connected component kept per label or region, as nnU-Net's
``determine_postprocessing`` chose.

The JSON lists ``postprocessing_fns`` (function names) and ``postprocessing_kwargs`` (their arguments) in the
order nnU-Net applies them. Only ``remove_all_but_largest_component_from_segmentation`` with
``labels_or_regions`` (a label, a region's list of labels, or a list of them; the voxels of all those labels
together) is accepted; any other function or argument is refused, naming it. The file is looked for in the
results folder, then in nnU-Net's cross-validation folder for the imported folds
(``crossval_results_folds_0_1_2_3_4``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from deepinfer._exceptions import Problem
from deepinfer.package._monai_bundle import read_json
from deepinfer.package._nnunet_plans import MAX_LABELS, NnunetPlan, Reader

POSTPROCESSING: Final = "postprocessing.json"
LARGEST: Final = "remove_all_but_largest_component_from_segmentation"
MAX_STEPS: Final = 64


def find_postprocessing(root: Path, folds: list[str]) -> str | None:
    """The postprocessing JSON's path relative to the results folder, or None (no postprocessing)."""
    for relative in (POSTPROCESSING, f"crossval_results_folds_{'_'.join(folds)}/{POSTPROCESSING}"):
        if (root / relative).is_file() or (root / relative).is_symlink():
            return relative
    return None


def read_postprocessing(root: Path, folds: list[str], plan: NnunetPlan, problems: list[Problem]) -> list[list[int]]:
    """The label groups whose largest component is kept, in nnU-Net's order ([] when there is no JSON)."""
    relative = find_postprocessing(root, folds)
    if relative is None:
        return []
    data = read_json(root, relative, problems)
    if data is None:
        return []
    reader = Reader(relative, problems)
    functions = reader.get(data, "postprocessing_fns", "$", list)
    arguments = reader.get(data, "postprocessing_kwargs", "$", list)
    if functions is None or arguments is None:
        return []
    if len(functions) != len(arguments) or len(functions) > MAX_STEPS:
        reader.problem("$.postprocessing_kwargs", f"must have one entry per function (at most {MAX_STEPS})")
        return []
    known = set(plan.labels) - {0}
    groups: list[list[int]] = []
    for index, (function, kwargs) in enumerate(zip(functions, arguments, strict=True)):
        where = f"$.postprocessing_fns[{index}]"
        if function != LARGEST:
            reader.problem(where, f"{str(function)[:80]!r} is not supported (only {LARGEST})")
            continue
        group = read_group(reader, kwargs, f"$.postprocessing_kwargs[{index}]", known)
        if group:
            groups.append(group)
    return groups


def read_group(reader: Reader, kwargs: Any, where: str, known: set[int]) -> list[int]:
    if not isinstance(kwargs, dict) or "labels_or_regions" not in kwargs:
        reader.problem(where, "must be an object with labels_or_regions")
        return []
    other = sorted(str(k) for k in kwargs if k not in ("labels_or_regions", "background_label"))
    if other or kwargs.get("background_label", 0) != 0:
        reader.problem(where, f"only labels_or_regions (and background_label 0) are supported, got {sorted(kwargs)}")
        return []
    value = kwargs["labels_or_regions"]
    items = value if isinstance(value, list) else [value]
    flat = [v for item in items for v in (item if isinstance(item, list) else [item])]
    plain = all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_LABELS for v in flat)
    if not flat or len(flat) > MAX_LABELS or not plain:
        reader.problem(
            f"{where}.labels_or_regions", f"must be labels 1..{MAX_LABELS} or lists of them, got {value!r}"[:200]
        )
        return []
    unknown = sorted(set(flat) - known)
    if unknown:
        reader.problem(f"{where}.labels_or_regions", f"labels {unknown} are not the model's ({sorted(known)})")
        return []
    return sorted(set(flat))
